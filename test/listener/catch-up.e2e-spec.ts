import { randomBytes } from 'node:crypto';
import { derivedWebhookId } from '@app/callback';
import { ReceivedRequest } from '../support/callback-receiver';
import { waitFor } from '../support/wait-for';
import { APP_ID, ListenerHarness } from './listener-harness';

function newToken(): string {
  return `tok_${randomBytes(12).toString('hex')}`;
}

interface Relayed {
  event: string;
  payload: string;
}

function relayed(requests: ReceivedRequest[]): Relayed[] {
  return requests.map((r) => r.json as Relayed);
}

function idsOf(requests: ReceivedRequest[]): string[] {
  return relayed(requests).map((r) => (JSON.parse(r.payload) as { id: string }).id);
}

describe('listener: catch-up after a gap', () => {
  let h: ListenerHarness;

  beforeAll(async () => {
    h = await ListenerHarness.start({
      instances: {
        alpha: { version: '4.3.0' },
        limited: { version: '4.3.0' },
        gone: { version: '4.3.0' },
      },
    });
  });

  afterAll(async () => {
    await h?.stop();
  });

  /** Registers `tag`, waits for its stream and for its first REST request (the floor, or a catch-up). */
  async function openStream(
    instance: string,
    tag: string,
    token: string,
    endpoint?: string,
  ): Promise<void> {
    const fake = h.fake(instance);
    fake.addToken(token);
    const before = fake.restRequests.filter((r) => r.token === token).length;
    await h.registered({ instance, tag, token, endpoint });
    await fake.waitForConnection(
      (c) => c.token === token && c.stream === (endpoint ?? 'user:notification'),
    );
    await waitFor(() => fake.restRequests.filter((r) => r.token === token).length > before, {
      what: 'the first REST request',
    });
  }

  /** Cuts the token's stream and keeps it down (upgrades answer 503) while `during` runs. */
  async function outage(
    instance: string,
    token: string,
    during: () => void | Promise<void>,
  ): Promise<void> {
    const fake = h.fake(instance);
    const opened = fake.connections.filter((c) => c.token === token).length;
    fake.refuseUpgrades(503);
    fake.closeConnections(token, 1012, 'service restart');
    await waitFor(() => fake.openConnections(token).length === 0, { what: 'the stream to close' });
    await during();
    fake.refuseUpgrades(undefined);
    await waitFor(
      () =>
        fake.connections.filter((c) => c.token === token && !c.closed).length > 0 &&
        fake.connections.filter((c) => c.token === token).length > opened,
      { what: 'the stream to reopen' },
    );
  }

  it('takes the newest notification as its floor on a new registration: no old history is relayed', async () => {
    const token = newToken();
    const fake = h.fake('alpha');
    for (let i = 0; i < 5; i++) fake.notify(token);
    const newestOld = fake.notify(token);
    await openStream('alpha', 'floor', token);
    const floor = fake.restRequests.find((r) => r.token === token)!;
    expect(floor.path).toBe('/api/v1/notifications');
    expect(floor.query).toEqual({ limit: '1' });
    await waitFor(async () => (await h.cursor('alpha', 'floor')) === newestOld.key, {
      what: 'the floor to be stored',
    });

    const fresh = await waitFor(() =>
      fake.openConnections(token).length > 0 ? fake.notify(token) : undefined,
    );
    const [delivered] = await h.receiver.waitForDelivered(1, '/cb/floor');
    expect((delivered.json as Relayed).payload).toBe(fresh.json);
    await waitFor(async () => (await h.cursor('alpha', 'floor')) === fresh.key, {
      what: 'the cursor to move',
    });
    expect(h.receiver.requestsTo('/cb/floor')).toHaveLength(1);
  });

  it('relays what was made while the stream was down, oldest first, once each, then the live events', async () => {
    const token = newToken();
    const fake = h.fake('alpha');
    await openStream('alpha', 'outage', token);
    const first = fake.notify(token);
    await h.receiver.waitForDelivered(1, '/cb/outage');

    const missed: string[] = [];
    await outage('alpha', token, () => {
      for (let i = 0; i < 5; i++) missed.push(fake.notify(token, { type: 'favourite' }).key);
    });
    const delivered = await h.receiver.waitForDelivered(6, '/cb/outage');
    expect(idsOf(delivered)).toEqual([first.key, ...missed]);
    // the payload is the object's JSON exactly as the REST API returned it
    const stored = fake.restRequests.length;
    expect(stored).toBeGreaterThan(0);
    expect(relayed(delivered).every((r) => r.event === 'notification')).toBe(true);

    const live = fake.notify(token);
    const all = await h.receiver.waitForDelivered(7, '/cb/outage');
    expect(idsOf(all)).toEqual([first.key, ...missed, live.key]);
    // the webhook-id is derived from the registration key, the event and the Mastodon id
    const key = { instanceUrl: h.instanceUrl('alpha'), appId: APP_ID, tag: 'outage' };
    expect(all.map((r) => r.headers['webhook-id'])).toEqual(
      idsOf(all).map((id) => derivedWebhookId(key, 'notification', id)),
    );
    await waitFor(async () => (await h.cursor('alpha', 'outage')) === live.key, {
      what: 'the cursor to move',
    });
    expect(await h.metric('msl_catchup_total', { outcome: 'relayed' })).toBeGreaterThanOrEqual(5);
  });

  it('follows the pages back to the cursor and keeps the newest CATCHUP_MAX_ITEMS', async () => {
    const token = newToken();
    const fake = h.fake('alpha');
    await openStream('alpha', 'pages', token);
    const missed: string[] = [];
    await outage('alpha', token, () => {
      for (let i = 0; i < 90; i++) missed.push(fake.notify(token).key);
    });
    const delivered = await h.receiver.waitForDelivered(90, '/cb/pages');
    expect(idsOf(delivered)).toEqual(missed);
    const pages = fake.restRequests.filter(
      (r) => r.token === token && r.query.since_id !== undefined,
    );
    expect(pages.map((r) => r.query.limit)).toEqual(['80', '80']);
    expect(pages[1].query.max_id).toBe(missed[10]);
  });

  it('catches up direct conversations by their last status, once per conversation', async () => {
    const token = newToken();
    const fake = h.fake('alpha');
    fake.converse(token, 'c-old');
    await openStream('alpha', 'dm', token, 'direct');
    expect(fake.restRequests.find((r) => r.token === token)).toMatchObject({
      path: '/api/v1/conversations',
      query: { limit: '1' },
    });
    const live = fake.converse(token, 'c1', 'live');
    await h.receiver.waitForDelivered(1, '/cb/dm');

    let latest: string[] = [];
    await outage('alpha', token, () => {
      fake.converse(token, 'c2', 'first');
      const c1 = fake.converse(token, 'c1', 'again');
      const c2 = fake.converse(token, 'c2', 'second');
      latest = [c1.json, c2.json];
    });
    const delivered = await h.receiver.waitForDelivered(3, '/cb/dm');
    expect(relayed(delivered).map((r) => r.event)).toEqual([
      'conversation',
      'conversation',
      'conversation',
    ]);
    expect(relayed(delivered).map((r) => r.payload)).toEqual([live.json, ...latest]);
    expect(h.receiver.requestsTo('/cb/dm')).toHaveLength(3);
  });

  it('relays an object that arrives both live and in the catch-up once, with one webhook-id', async () => {
    const token = newToken();
    const fake = h.fake('alpha');
    await openStream('alpha', 'seam', token);
    const before = fake.notify(token);
    await h.receiver.waitForDelivered(1, '/cb/seam');
    const missed: string[] = [];
    const requests = fake.restArrivals;
    fake.restDelayMs = 1_500;
    try {
      await outage('alpha', token, () => {
        missed.push(fake.notify(token).key);
      });
      // made while the catch-up request is on its way: streamed live and listed by REST as well
      await waitFor(() => fake.restArrivals > requests, { what: 'the catch-up request' });
      const both = fake.notify(token);
      const delivered = await h.receiver.waitForDelivered(3, '/cb/seam');
      expect(idsOf(delivered)).toEqual([before.key, ...missed, both.key]);
    } finally {
      fake.restDelayMs = 0;
    }
    const after = fake.notify(token);
    const all = await h.receiver.waitForDelivered(4, '/cb/seam');
    expect(idsOf(all)).toEqual([before.key, ...missed, expect.any(String), after.key]);
    expect(new Set(all.map((r) => r.headers['webhook-id'])).size).toBe(4);
    expect(await h.metric('msl_catchup_total', { outcome: 'duplicate' })).toBeGreaterThanOrEqual(1);
  });

  it('honours 429 and Retry-After: live events go on, the missed ones follow after the wait', async () => {
    const token = newToken();
    const fake = h.fake('limited');
    await openStream('limited', 'slow', token);
    const missed: string[] = [];
    await outage('limited', token, () => {
      missed.push(fake.notify(token).key, fake.notify(token).key);
      fake.refuseRest(429, 1, { 'Retry-After': '2' });
    });
    const refused = await waitFor(
      () => fake.restRequests.find((r) => r.token === token && r.status === 429),
      {
        what: 'the refused catch-up',
      },
    );
    const live = await waitFor(() =>
      fake.openConnections(token).length > 0 ? fake.notify(token) : undefined,
    );
    const delivered = await h.receiver.waitForDelivered(3, '/cb/slow');
    // the live event is not held behind the failed catch-up
    expect(idsOf(delivered)).toEqual([live.key, ...missed]);
    const retried = fake.restRequests.filter((r) => r.token === token && r.at > refused.at);
    expect(retried.length).toBeGreaterThan(0);
    expect(retried[0].at - refused.at).toBeGreaterThanOrEqual(1_900);
    expect(await h.metric('msl_catchup_total', { outcome: 'rate_limited' })).toBeGreaterThanOrEqual(
      1,
    );
    // the gap was fetched: the cursor moves past all three
    await waitFor(
      async () =>
        (await h.cursor('limited', 'slow')) === missed[1] ||
        (await h.cursor('limited', 'slow')) === live.key,
      {
        what: 'the cursor',
      },
    );
    await waitFor(async () => (await h.cursor('limited', 'slow')) === live.key, {
      what: 'the cursor past the live event',
    });
  });

  it('removes the registration when the REST API answers 401 (revoked) or 403 (no read scope)', async () => {
    const fake = h.fake('gone');
    for (const [tag, status] of [
      ['revoked', 401],
      ['scope', 403],
    ] as const) {
      const token = newToken();
      fake.addToken(token);
      fake.refuseRest(status, 1);
      await h.registered({ instance: 'gone', tag, token });
      await waitFor(async () => (await h.row('gone', tag)) === undefined, {
        what: `${tag} to be removed`,
      });
    }
    await h.waitForListenerLog(
      'registration https://gone.test jp.example.relaytest revoked removed: its token was revoked',
    );
    await h.waitForListenerLog(
      'registration https://gone.test jp.example.relaytest scope removed: its token may not read notifications',
    );
  });
});
