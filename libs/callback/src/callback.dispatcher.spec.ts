import { Logger } from '@nestjs/common';
import type { Settings } from '@app/config';
import type {
  NewPendingDelivery,
  PendingDeliveryEntity,
  PendingDeliveryRepository,
  Registration,
  RegistrationRepository,
} from '@app/database';
import { MetricsService } from '@app/observability';
import type { CallbackDeliveryService, CallbackRequest } from './callback-delivery.service';
import { CallbackDispatcher } from './callback.dispatcher';
import type { RelayEvent } from './relay-event';
import type { AttemptVerdict } from './retry-policy';
import { derivedWebhookId } from './webhook-signer';

/** A stub on which any method not given fails the test when called. */
function strictStub<T extends object>(name: string, methods: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(methods as T, {
    get(target, property) {
      if (property in target) return (target as Record<PropertyKey, unknown>)[property];
      if (property === 'then') return undefined;
      throw new Error(`unexpected call: ${name}.${String(property)}`);
    },
  });
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets promise chains and setImmediate callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

const settings = {
  shutdownTimeoutMs: 2_000,
  callback: {
    timeoutMs: 1_000,
    retryDeadlineHours: 24,
    maxConcurrentPerHost: 8,
    maxResponseBytes: 1_024,
    retryPollIntervalMs: 1_000,
    retryBaseDelayMs: 1_000,
    retryMaxDelayMs: 600_000,
  },
} as Settings;

function relayEvent(seq: number, registrationId = 1): RelayEvent {
  return {
    registrationId,
    instanceUrl: 'https://m.example',
    tag: 'tag',
    appId: 'app',
    callbackUrl: 'https://receiver.example/cb',
    event: 'notification',
    payload: `{"seq":${seq}}`,
    receivedAt: Date.now(),
  };
}

const seqOf = (body: string) =>
  (JSON.parse((JSON.parse(body) as { payload: string }).payload) as { seq: number }).seq;

/** Records every attempt; each waits until the test answers it. */
class ScriptedDelivery {
  readonly requests: { request: CallbackRequest; answer: Deferred<AttemptVerdict> }[] = [];
  aborted = 0;

  attempt = (request: CallbackRequest): Promise<AttemptVerdict> => {
    const answer = deferred<AttemptVerdict>();
    this.requests.push({ request, answer });
    return answer.promise;
  };

  abortAll = (): void => {
    this.aborted += 1;
  };

  seqs(): number[] {
    return this.requests.map((r) => seqOf(r.request.body));
  }
}

function setup(
  options: {
    pendingAtStart?: number[];
    registration?: Partial<Registration>;
    registrationGone?: boolean;
  } = {},
) {
  const delivery = new ScriptedDelivery();
  const appended: NewPendingDelivery[][] = [];
  const calls: string[] = [];
  const pending = {
    registrationIdsWithPending: jest.fn(async () => options.pendingAtStart ?? []),
    append: jest.fn(async (rows: NewPendingDelivery[]) => {
      calls.push(`append ${rows.length}`);
      appended.push(rows);
    }),
    depthAndOldest: jest.fn(async () => ({ depth: 0, oldestReceivedAt: null })),
    findDueHeads: jest.fn(async (): Promise<PendingDeliveryEntity[]> => []),
    findFirst: jest.fn(async (_registrationId: number): Promise<PendingDeliveryEntity[]> => []),
    delete: jest.fn(async (ids: string[]) => void calls.push(`delete ${ids.join(',')}`)),
    recordFailure: jest.fn(
      async (id: string, attempts: number) => void calls.push(`recordFailure ${id} ${attempts}`),
    ),
    deleteForRegistrations: jest.fn(
      async (ids: number[]) => void calls.push(`deleteForRegistrations ${ids.join(',')}`),
    ),
    makeDue: jest.fn(async (ids: number[]) => void calls.push(`makeDue ${ids.join(',')}`)),
  };
  const registrations = {
    deleteById: jest.fn(async (id: number) => {
      calls.push(`deleteById ${id}`);
      return true;
    }),
    findById: jest.fn(async (id: number): Promise<Registration | undefined> =>
      options.registrationGone
        ? undefined
        : {
            id,
            instanceUrl: 'https://m.example',
            appId: 'app',
            tag: 'tag',
            accessToken: 'token',
            appSecretHash: 'sha256:00',
            callbackUrl: 'https://receiver.example/current',
            endpoint: 'user',
            lastUpdate: 0,
            ...options.registration,
          },
    ),
    findExistingIds: jest.fn(async (ids: number[]) => ids),
    findByIds: jest.fn(async (ids: number[]) =>
      ids.map((id) => ({ id, callbackUrl: `https://receiver.example/stored/${id}` })),
    ),
  };
  const dispatcher = new CallbackDispatcher(
    strictStub<CallbackDeliveryService>('delivery', {
      attempt: delivery.attempt,
      abortAll: delivery.abortAll,
    }),
    strictStub<PendingDeliveryRepository>('pending', pending),
    strictStub<RegistrationRepository>('registrations', registrations),
    settings,
    new MetricsService(),
  );
  return { dispatcher, delivery, pending, registrations, appended, calls };
}

function storedRow(
  id: string,
  seq: number,
  overrides: Partial<PendingDeliveryEntity> = {},
): PendingDeliveryEntity {
  return {
    id,
    registrationId: 1,
    webhookId: `msg_${id}`,
    event: 'notification',
    body: JSON.stringify({ payload: `{"seq":${seq}}` }),
    attempts: 1,
    receivedAt: Date.now() - 10_000,
    nextAttemptAt: Date.now() - 1,
    deadlineAt: Date.now() + 3_600_000,
    lastError: 'HTTP 503',
    ...overrides,
  };
}

/** Runs one retry-worker round the way the interval does. */
async function retryRound(dispatcher: CallbackDispatcher): Promise<void> {
  await (dispatcher as unknown as { retries: { tick(): Promise<void> } }).retries.tick();
  await settle();
}

describe('CallbackDispatcher', () => {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });
  afterAll(() => {
    Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose']);
  });

  it('derives the webhook-id from the Mastodon id and reports events safe in order: delivered, stored or dropped', async () => {
    const { dispatcher, delivery, appended } = setup();
    const settled: string[] = [];
    dispatcher.onSettled((registrationId, objectId) =>
      settled.push(`${registrationId}:${objectId}`),
    );
    await dispatcher.onModuleInit();
    const withId = (seq: number) => ({ ...relayEvent(seq), objectId: String(100 + seq) });

    dispatcher.dispatch(withId(1));
    dispatcher.dispatch(withId(2));
    dispatcher.dispatch(withId(3));
    expect(delivery.requests[0].request.webhookId).toBe(
      derivedWebhookId(
        { instanceUrl: 'https://m.example', appId: 'app', tag: 'tag' },
        'notification',
        '101',
      ),
    );
    delivery.requests[0].answer.resolve({ kind: 'delivered' });
    await settle();
    expect(settled).toEqual(['1:101']);
    delivery.requests[1].answer.resolve({ kind: 'drop', reason: 'HTTP 400' });
    await settle();
    expect(settled).toEqual(['1:101', '1:102']);
    // a failed first attempt: safe once the row is committed to the retry table
    delivery.requests[2].answer.resolve({ kind: 'retry', reason: 'HTTP 503' });
    await settle();
    expect(appended.flat().map((row) => row.webhookId)).toEqual([
      derivedWebhookId(
        { instanceUrl: 'https://m.example', appId: 'app', tag: 'tag' },
        'notification',
        '103',
      ),
    ]);
    expect(settled).toEqual(['1:101', '1:102', '1:103']);
    // an event without an id is relayed with a random webhook-id and reported nowhere
    dispatcher.dispatch(relayEvent(4));
    await settle();
    expect(settled).toHaveLength(3);
  });

  it('sends an event at once, signed per event id, without touching the retry table when it is delivered', async () => {
    const { dispatcher, delivery, pending } = setup();
    await dispatcher.onModuleInit();

    dispatcher.dispatch(relayEvent(1));

    expect(delivery.requests).toHaveLength(1);
    const { request } = delivery.requests[0];
    expect(request.callbackUrl).toBe('https://receiver.example/cb');
    expect(request.appId).toBe('app');
    expect(request.webhookId).toMatch(/^msg_/);
    expect(JSON.parse(request.body)).toEqual({
      instanceUrl: 'https://m.example',
      tag: 'tag',
      appId: 'app',
      event: 'notification',
      payload: '{"seq":1}',
    });
    delivery.requests[0].answer.resolve({ kind: 'delivered' });
    await settle();
    expect(pending.append).not.toHaveBeenCalled();
  });

  it('never throws on a malformed event, and stores a usable deadline for one without a time', async () => {
    const { dispatcher, delivery, appended } = setup();
    await dispatcher.onModuleInit();

    expect(() => dispatcher.dispatch(undefined as unknown as RelayEvent)).not.toThrow();
    expect(() =>
      dispatcher.dispatch({ ...relayEvent(1), registrationId: Number.NaN }),
    ).not.toThrow();
    expect(delivery.requests).toHaveLength(0);
    dispatcher.dispatch({ ...relayEvent(2), receivedAt: Number.NaN });
    delivery.requests[0].answer.resolve({ kind: 'retry', reason: 'HTTP 503' });
    await settle();

    const [row] = appended.flat();
    expect(Number.isFinite(row.receivedAt)).toBe(true);
    expect(row.deadlineAt).toBe(row.receivedAt + 24 * 3_600_000);
  });

  it('keeps one request in flight per registration and sends in arrival order', async () => {
    const { dispatcher, delivery } = setup();
    await dispatcher.onModuleInit();

    for (const seq of [1, 2, 3]) dispatcher.dispatch(relayEvent(seq));
    dispatcher.dispatch(relayEvent(100, 2));

    // registration 2 is not held up by registration 1
    expect(delivery.seqs()).toEqual([1, 100]);
    delivery.requests[0].answer.resolve({ kind: 'delivered' });
    await settle();
    expect(delivery.seqs()).toEqual([1, 100, 2]);
    // an event arriving while the second is in flight waits for it
    dispatcher.dispatch(relayEvent(4));
    await settle();
    expect(delivery.seqs()).toEqual([1, 100, 2]);
    delivery.requests[2].answer.resolve({ kind: 'drop', reason: 'HTTP 400' });
    await settle();
    expect(delivery.seqs()).toEqual([1, 100, 2, 3]);
    delivery.requests[3].answer.resolve({ kind: 'delivered' });
    await settle();
    expect(delivery.seqs()).toEqual([1, 100, 2, 3, 4]);
    delivery.requests[4].answer.resolve({ kind: 'delivered' });
    dispatcher.dispatch(relayEvent(5));
    await settle();
    expect(delivery.seqs()).toEqual([1, 100, 2, 3, 4, 5]);
  });

  it('stores a failed event with the ones queued behind it, in order, and stores later ones behind them', async () => {
    const { dispatcher, delivery, appended } = setup();
    await dispatcher.onModuleInit();
    for (const seq of [1, 2, 3]) dispatcher.dispatch(relayEvent(seq));
    const before = Date.now();

    delivery.requests[0].answer.resolve({ kind: 'retry', reason: 'HTTP 503' });
    await settle();
    dispatcher.dispatch(relayEvent(4));
    await settle();

    expect(delivery.requests).toHaveLength(1);
    const rows = appended.flat();
    expect(rows.map((r) => seqOf(r.body))).toEqual([1, 2, 3, 4]);
    expect(rows[0]).toMatchObject({
      attempts: 1,
      lastError: 'HTTP 503',
      webhookId: delivery.requests[0].request.webhookId,
    });
    expect(rows[0].nextAttemptAt).toBeGreaterThanOrEqual(before + 500);
    expect(rows.slice(1).every((r) => r.attempts === 0)).toBe(true);
    expect(rows.every((r) => r.deadlineAt === r.receivedAt + 24 * 3_600_000)).toBe(true);
  });

  it('honours Retry-After on the first failure', async () => {
    const { dispatcher, delivery, appended } = setup();
    await dispatcher.onModuleInit();
    dispatcher.dispatch(relayEvent(1));
    const before = Date.now();

    delivery.requests[0].answer.resolve({
      kind: 'retry',
      reason: 'HTTP 429',
      retryAfterMs: 90_000,
    });
    await settle();

    expect(appended.flat()[0].nextAttemptAt).toBeGreaterThanOrEqual(before + 90_000);
  });

  it('on 410 tells the listeners and sends nothing more for the registration', async () => {
    const { dispatcher, delivery, registrations, pending } = setup();
    await dispatcher.onModuleInit();
    const gone: number[] = [];
    dispatcher.onRegistrationGone((id) => gone.push(id));
    dispatcher.onRegistrationGone(() => {
      throw new Error('a faulty listener does not stop the others');
    });
    dispatcher.onRegistrationGone((id) => gone.push(id * 10));
    dispatcher.dispatch(relayEvent(1));
    dispatcher.dispatch(relayEvent(2));

    delivery.requests[0].answer.resolve({ kind: 'gone' });
    await settle();
    dispatcher.dispatch(relayEvent(3));
    await settle();

    // ending the registration is the listener's (it records why)
    expect(registrations.deleteById).not.toHaveBeenCalled();
    expect(gone).toEqual([1, 10]);
    expect(delivery.requests).toHaveLength(1);
    expect(pending.append).not.toHaveBeenCalled();
  });

  it('forgetRegistration drops waiting events and ignores the answer of the one in flight', async () => {
    const { dispatcher, delivery, pending } = setup();
    await dispatcher.onModuleInit();
    dispatcher.dispatch(relayEvent(1));
    dispatcher.dispatch(relayEvent(2));

    dispatcher.forgetRegistration(1);
    delivery.requests[0].answer.resolve({ kind: 'retry', reason: 'HTTP 503' });
    await settle();

    expect(delivery.requests).toHaveLength(1);
    expect(pending.append).not.toHaveBeenCalled();
  });

  it('at start, sends nothing for registrations that have stored rows: their new events queue behind them', async () => {
    const { dispatcher, delivery, appended } = setup({ pendingAtStart: [1] });
    dispatcher.dispatch(relayEvent(1));
    dispatcher.dispatch(relayEvent(7, 2));
    expect(delivery.requests).toHaveLength(0);

    await dispatcher.onModuleInit();
    await settle();

    expect(delivery.seqs()).toEqual([7]);
    expect(appended.flat().map((r) => [r.registrationId, seqOf(r.body)])).toEqual([[1, 1]]);
  });

  it('retries stored heads at the current callback URL, drains the backlog in order, then goes back to the fast path', async () => {
    const { dispatcher, delivery, pending, calls } = setup({ pendingAtStart: [1] });
    await dispatcher.onModuleInit();
    pending.findDueHeads.mockResolvedValueOnce([storedRow('10', 1)]);
    pending.findFirst.mockResolvedValueOnce([
      storedRow('10', 1),
      storedRow('11', 2, { attempts: 0 }),
    ]);

    await retryRound(dispatcher);
    expect(delivery.requests[0].request).toMatchObject({
      callbackUrl: 'https://receiver.example/current',
      webhookId: 'msg_10',
    });
    delivery.requests[0].answer.resolve({ kind: 'delivered' });
    await settle();
    expect(delivery.requests[1].request.webhookId).toBe('msg_11');
    delivery.requests[1].answer.resolve({ kind: 'delivered' });
    await settle();
    // the stored rows of registration 1 waited on this host since the start: due now
    expect(calls).toEqual(['makeDue 1', 'delete 10,11']);

    dispatcher.dispatch(relayEvent(3));
    expect(delivery.seqs()).toEqual([1, 2, 3]);
    expect(pending.append).not.toHaveBeenCalled();
  });

  it('a failed retry records the failure and stops that registration until the row is due again', async () => {
    const { dispatcher, delivery, pending, calls } = setup({ pendingAtStart: [1] });
    await dispatcher.onModuleInit();
    pending.findDueHeads.mockResolvedValueOnce([storedRow('10', 1, { attempts: 2 })]);
    pending.findFirst.mockResolvedValueOnce([
      storedRow('10', 1, { attempts: 2 }),
      storedRow('11', 2, { attempts: 0 }),
    ]);

    await retryRound(dispatcher);
    delivery.requests[0].answer.resolve({ kind: 'retry', reason: 'HTTP 502' });
    await settle();

    expect(calls).toEqual(['recordFailure 10 3']);
    const nextAt = pending.recordFailure.mock.calls[0] as unknown as [
      string,
      number,
      number,
      string,
    ];
    expect(nextAt[2]).toBeGreaterThan(Date.now() + 1_000);
    expect(pending.findFirst).toHaveBeenCalledTimes(1);
    expect(delivery.requests).toHaveLength(1);
    // new events still go behind the stored one
    dispatcher.dispatch(relayEvent(5));
    await settle();
    expect(delivery.requests).toHaveLength(1);
    expect(pending.append).toHaveBeenCalledTimes(1);
  });

  it('once a host answers again, the rows waiting on its backoff are due at once and drained', async () => {
    const { dispatcher, delivery, pending, calls } = setup();
    await dispatcher.onModuleInit();
    dispatcher.dispatch(relayEvent(1, 1));
    dispatcher.dispatch(relayEvent(2, 2));
    delivery.requests[0].answer.resolve({ kind: 'retry', reason: 'ECONNREFUSED' });
    delivery.requests[1].answer.resolve({
      kind: 'retry',
      reason: 'HTTP 429',
      retryAfterMs: 60_000,
    });
    await settle();
    expect(calls).toEqual(['append 2']);

    pending.findDueHeads.mockResolvedValueOnce([storedRow('10', 1)]);
    pending.findFirst.mockResolvedValueOnce([storedRow('10', 1)]);
    dispatcher.dispatch(relayEvent(3, 3));
    delivery.requests[2].answer.resolve({ kind: 'delivered' });
    await settle();
    // registration 2 asked for its Retry-After: it keeps waiting
    expect(calls.slice(1)).toEqual(['makeDue 1']);
    expect(pending.findDueHeads).toHaveBeenCalledTimes(1);
    expect(delivery.requests[3].request.webhookId).toBe('msg_10');
  });

  it('after a restart, stored rows wait on their host until it answers one request', async () => {
    const { dispatcher, delivery, calls } = setup({ pendingAtStart: [1, 2] });
    await dispatcher.onModuleInit();
    await settle();
    dispatcher.dispatch(relayEvent(3, 3));
    delivery.requests[0].answer.resolve({ kind: 'delivered' });
    await settle();
    expect(calls).toEqual(['makeDue 1,2']);
  });

  it('starts the next round as soon as half of a full round of drains is done', async () => {
    const { dispatcher, delivery, pending } = setup();
    await dispatcher.onModuleInit();
    const full = Array.from({ length: 256 }, (_, i) =>
      storedRow(String(100 + i), i, { registrationId: i + 1 }),
    );
    pending.findDueHeads.mockResolvedValueOnce(full);
    const served = new Set<number>();
    pending.findFirst.mockImplementation(async (registrationId: number) => {
      if (served.has(registrationId)) return [];
      served.add(registrationId);
      return [full[registrationId - 1]];
    });
    await retryRound(dispatcher);
    expect(delivery.requests).toHaveLength(256);
    expect(pending.findDueHeads).toHaveBeenCalledTimes(1);
    for (const request of delivery.requests.slice(0, 127))
      request.answer.resolve({ kind: 'delivered' });
    await settle();
    expect(pending.findDueHeads).toHaveBeenCalledTimes(1);
    delivery.requests[127].answer.resolve({ kind: 'delivered' });
    await settle();
    expect(pending.findDueHeads).toHaveBeenCalledTimes(2);
    expect(pending.findDueHeads.mock.calls[1]).toEqual([expect.any(Number), 256]);
  });

  it('drops a stored row past its deadline without sending it', async () => {
    const { dispatcher, delivery, pending, calls } = setup({ pendingAtStart: [1] });
    await dispatcher.onModuleInit();
    pending.findDueHeads.mockResolvedValueOnce([
      storedRow('10', 1, { deadlineAt: Date.now() - 1 }),
    ]);
    pending.findFirst.mockResolvedValueOnce([storedRow('10', 1, { deadlineAt: Date.now() - 1 })]);

    await retryRound(dispatcher);

    expect(delivery.requests).toHaveLength(0);
    expect(calls).toEqual(['delete 10']);
  });

  it('removes stored rows of a registration that can no longer be read, without sending them', async () => {
    const { dispatcher, delivery, pending, calls } = setup({
      pendingAtStart: [1],
      registrationGone: true,
    });
    await dispatcher.onModuleInit();
    pending.findDueHeads.mockResolvedValueOnce([storedRow('10', 1)]);

    await retryRound(dispatcher);

    expect(delivery.requests).toHaveLength(0);
    expect(calls).toEqual(['deleteForRegistrations 1']);
  });

  it('stops draining a backlog once shutdown begins', async () => {
    const { dispatcher, delivery, pending, calls } = setup({ pendingAtStart: [1] });
    await dispatcher.onModuleInit();
    pending.findDueHeads.mockResolvedValueOnce([storedRow('10', 1)]);
    pending.findFirst.mockResolvedValue([storedRow('10', 1), storedRow('11', 2, { attempts: 0 })]);
    await retryRound(dispatcher);

    const shutdown = dispatcher.beforeApplicationShutdown();
    delivery.requests[0].answer.resolve({ kind: 'delivered' });
    await shutdown;

    expect(calls).toEqual(['makeDue 1', 'delete 10']);
    expect(delivery.requests).toHaveLength(1);
    expect(delivery.aborted).toBe(1);
  });

  it('does not start a second request for a registration whose head is in flight', async () => {
    const { dispatcher, delivery, pending } = setup({ pendingAtStart: [1] });
    await dispatcher.onModuleInit();
    pending.findDueHeads.mockResolvedValue([storedRow('10', 1)]);
    pending.findFirst.mockResolvedValue([storedRow('10', 1)]);

    await retryRound(dispatcher);
    await retryRound(dispatcher);

    expect(delivery.requests).toHaveLength(1);
  });

  it('at shutdown waits for the answer in flight, then stores everything not delivered', async () => {
    const { dispatcher, delivery, appended } = setup();
    await dispatcher.onModuleInit();
    dispatcher.dispatch(relayEvent(1));
    dispatcher.dispatch(relayEvent(2));
    dispatcher.dispatch(relayEvent(3, 2));

    const shutdown = dispatcher.beforeApplicationShutdown();
    await settle();
    delivery.requests[0].answer.resolve({ kind: 'delivered' });
    await settle();
    // registration 2 never answers: its request is abandoned after the grace period and stored
    await shutdown;

    expect(delivery.aborted).toBe(1);
    expect(delivery.seqs()).toEqual([1, 3]);
    expect(
      appended
        .flat()
        .map((r) => [r.registrationId, seqOf(r.body)])
        .sort(),
    ).toEqual([
      [1, 2],
      [2, 3],
    ]);
    // the late answer changes nothing
    delivery.requests[1].answer.resolve({ kind: 'retry', reason: 'HTTP 503' });
    await settle();
    expect(appended.flat()).toHaveLength(2);
  });
});
