import { randomBytes } from 'node:crypto';
import { ReceivedRequest } from '../support/callback-receiver';
import { waitFor } from '../support/wait-for';
import { ListenerHarness } from './listener-harness';

function newToken(): string {
  return `tok_${randomBytes(12).toString('hex')}`;
}

function idOf(request: ReceivedRequest): string {
  return (JSON.parse((request.json as { payload: string }).payload) as { id: string }).id;
}

/** Ids in the order they were first delivered; fails on an id delivered twice under two webhook-ids. */
function firstDeliveries(requests: ReceivedRequest[]): string[] {
  const webhookIds = new Map<string, string>();
  const order: string[] = [];
  for (const request of requests) {
    const id = idOf(request);
    const webhookId = String(request.headers['webhook-id']);
    const known = webhookIds.get(id);
    if (known === undefined) {
      webhookIds.set(id, webhookId);
      if (request.status !== undefined && request.status < 300) order.push(id);
    } else {
      expect(webhookId).toBe(known);
      if (!order.includes(id) && request.status !== undefined && request.status < 300)
        order.push(id);
    }
  }
  return order;
}

describe('listener: nothing lost across a restart', () => {
  let h: ListenerHarness;

  beforeAll(async () => {
    h = await ListenerHarness.start({ instances: { alpha: { version: '4.3.0' } } });
  });

  afterAll(async () => {
    await h?.stop();
  });

  async function openStream(tag: string, token: string): Promise<void> {
    const fake = h.fake('alpha');
    fake.addToken(token);
    await h.registered({ instance: 'alpha', tag, token });
    await fake.waitForConnection((c) => c.token === token);
    await waitFor(async () => (await h.cursor('alpha', tag)) !== null, {
      what: `the floor of ${tag}`,
    });
  }

  it('after SIGKILL, relays what was in flight and what was made while it was dead, with the same webhook-ids', async () => {
    const token = newToken();
    const fake = h.fake('alpha');
    await openStream('kill', token);
    const before = [fake.notify(token).key, fake.notify(token).key];
    await h.receiver.waitForDelivered(2, '/cb/kill');
    await waitFor(async () => (await h.cursor('alpha', 'kill')) === before[1], {
      what: 'the cursor',
    });

    // an event on its first, in-memory attempt when the process dies
    h.receiver.script('/cb/kill', [{ delayMs: 30_000 }]);
    const inFlight = fake.notify(token).key;
    await h.receiver.waitForRequests(3, '/cb/kill');
    await h.restartListener('SIGKILL', false);
    const whileDead = [fake.notify(token).key, fake.notify(token).key, fake.notify(token).key];
    await h.startListener();

    await waitFor(() => firstDeliveries(h.receiver.requestsTo('/cb/kill')).length >= 6, {
      what: 'every notification delivered',
    });
    const requests = h.receiver.requestsTo('/cb/kill');
    expect(firstDeliveries(requests)).toEqual([...before, inFlight, ...whileDead]);
    const attempts = requests.filter((r) => idOf(r) === inFlight);
    expect(attempts.length).toBe(2);
    expect(attempts[1].headers['webhook-id']).toBe(attempts[0].headers['webhook-id']);
    await waitFor(async () => (await h.cursor('alpha', 'kill')) === whileDead[2], {
      what: 'the cursor',
    });
  });

  it('after SIGTERM under load with a slow receiver, every notification is delivered, in order per registration', async () => {
    const fake = h.fake('alpha');
    const tags = ['term-a', 'term-b', 'term-c'];
    const tokens = tags.map(() => newToken());
    for (const [index, tag] of tags.entries()) await openStream(tag, tokens[index]);
    for (const tag of tags) h.receiver.script(`/cb/${tag}`, [], { status: 200, delayMs: 300 });

    const made = new Map<string, string[]>(tags.map((tag) => [tag, []]));
    let sequence = 0;
    const emitter = setInterval(() => {
      const index = sequence++ % tags.length;
      made.get(tags[index])!.push(fake.notify(tokens[index]).key);
    }, 15);
    try {
      await waitFor(() => h.receiver.requestsTo('/cb/term-c').length >= 2, { what: 'load' });
      await h.restartListener('SIGTERM', false);
      expect(h.listener.exitStatus?.code).toBe(0);
      await waitFor(() => sequence >= 150, { what: 'notifications made while stopped' });
    } finally {
      clearInterval(emitter);
    }
    for (const tag of tags) h.receiver.script(`/cb/${tag}`, [], { status: 200 });
    await h.startListener();

    for (const tag of tags) {
      await waitFor(
        () => firstDeliveries(h.receiver.requestsTo(`/cb/${tag}`)).length >= made.get(tag)!.length,
        { what: `every notification of ${tag}`, timeoutMs: 60_000 },
      );
      expect(firstDeliveries(h.receiver.requestsTo(`/cb/${tag}`))).toEqual(made.get(tag));
    }
    expect(h.listener.logs).not.toContain('could not be stored and are lost');
  });
});
