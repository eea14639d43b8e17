import type { Counter } from 'prom-client';
import { CallbackDispatcher, RelayEvent, relayTargetOf } from '@app/callback';
import { Settings } from '@app/config';
import { Registration } from '@app/database';
import { MastodonRestClient, MastodonRestError, Page, PageRequest } from '@app/mastodon';
import { MetricsService } from '@app/observability';
import { RegistrationStateRecorder } from '../lifecycle/registration-state.recorder';
import { MembershipService } from '../membership/membership.service';
import { strictStub } from '../../../../test/support/strict-stub';
import { CatchUpCursorsService } from './catch-up-cursors.service';
import { CatchUpService, CatchUpSource } from './catch-up.service';
import { CursorBook } from './cursor-book';

const registration: Registration = {
  id: 7,
  lastUpdate: 1,
  instanceUrl: 'https://m.example',
  appId: 'app',
  tag: 'tag',
  accessToken: 'tok_secret',
  appSecretHash: 'sha256:x',
  callbackUrl: 'https://cb.example/hook',
  endpoint: null,
  lastNotificationId: '100',
};

const settings = {
  catchUp: {
    maxItems: 5,
    maxAgeHours: 24,
    maxConcurrencyPerInstance: 2,
    retryBaseMs: 5,
    retryMaxMs: 20,
  },
} as unknown as Settings;

function item(id: string, createdAt = Date.now()) {
  return { key: id, createdAt, json: `{"id":"${id}"}` };
}

function live(id: string): RelayEvent {
  return {
    ...relayTargetOf(registration),
    event: 'notification',
    payload: `{"id":"${id}","live":true}`,
    objectId: id,
    receivedAt: 1,
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('CatchUpService', () => {
  let dispatched: RelayEvent[];
  let requests: PageRequest[];
  let answers: ((request: PageRequest) => Promise<Page>)[];
  let book: CursorBook;
  let service: CatchUpService;
  let refused: [number, string][];
  let relayedAt: [number, number][];
  /** How much of the cluster-wide catch-up limit other listeners hold. */
  let shareTakenByOthers: number;
  let metrics: MetricsService;
  const source = (
    overrides: Partial<Registration> = {},
    endpoint: CatchUpSource['endpoint'] = 'user:notification',
  ): CatchUpSource => ({
    registration: { ...registration, ...overrides },
    instance: { replaceUrlWeb: 'http://10.0.0.2' },
    endpoint,
  });
  /** `msl_catchup_total` by outcome: only the outcomes that were counted. */
  const outcomes = async (): Promise<Record<string, number>> => {
    const counter = metrics.registry.getSingleMetric('msl_catchup_total') as Counter<'outcome'>;
    const { values } = await counter.get();
    return Object.fromEntries(values.map(({ labels, value }) => [String(labels.outcome), value]));
  };
  /** Runs `body` on fake timers; promises still settle (through setImmediate). */
  const onFakeTimers = async (body: () => Promise<void>) => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    try {
      await body();
    } finally {
      service.onModuleDestroy();
      jest.useRealTimers();
    }
  };
  /** As onFakeTimers, each retry waiting its longest: 10 ms after a first failure, 20 after later ones. */
  const onLongestBackoff = async (body: () => Promise<void>) => {
    const random = jest.spyOn(Math, 'random').mockReturnValue(1);
    try {
      await onFakeTimers(body);
    } finally {
      random.mockRestore();
    }
  };
  const kinds = () =>
    dispatched.map(
      (e) => `${(e.payload as string).includes('live') ? 'live' : 'rest'} ${e.objectId}`,
    );

  beforeEach(() => {
    dispatched = [];
    requests = [];
    answers = [];
    refused = [];
    relayedAt = [];
    shareTakenByOthers = 0;
    book = new CursorBook();
    metrics = new MetricsService();
    service = new CatchUpService(
      strictStub<CallbackDispatcher>('CallbackDispatcher', {
        dispatch: (event: RelayEvent) => void dispatched.push(event),
      }),
      strictStub<MastodonRestClient>('MastodonRestClient', {
        page: (request: PageRequest) => {
          requests.push(request);
          const answer = answers.shift();
          return answer ? answer(request) : Promise.resolve({ items: [] });
        },
      }),
      strictStub<CatchUpCursorsService>('CatchUpCursorsService', { book }),
      strictStub<RegistrationStateRecorder>('RegistrationStateRecorder', {
        relayed: (id: number, at: number) => void relayedAt.push([id, at]),
      }),
      strictStub<MembershipService>('MembershipService', {
        openingShare: (limit: number) => limit - shareTakenByOthers,
      }),
      metrics,
      settings,
    );
    for (const level of ['log', 'warn', 'debug'] as const)
      jest
        .spyOn((service as unknown as { logger: Record<string, () => void> }).logger, level)
        .mockImplementation(() => undefined);
    service.onTokenRefused((id, reason) => refused.push([id, reason]));
  });

  afterEach(() => service.onModuleDestroy());

  it('takes the floor with limit=1 on a first open and holds no live event meanwhile', async () => {
    let answer!: (page: Page) => void;
    answers.push(() => new Promise((resolve) => (answer = resolve)));
    service.opened(source({ lastNotificationId: null }));
    expect(requests).toEqual([
      expect.objectContaining({
        base: 'http://10.0.0.2',
        guard: false,
        accessToken: 'tok_secret',
        collection: 'notifications',
        limit: 1,
      }),
    ]);
    expect(requests[0].sinceId).toBeUndefined();
    service.relay(live('50'));
    expect(kinds()).toEqual(['live 50']);
    answer({ items: [item('90')] });
    await settle();
    book.settled(7, '50');
    // the live event is the floor: 90 came after it, live or (if the socket dropped) by the next catch-up
    expect(book.cursorOf(7)).toBe('50');
  });

  it('takes the newest id as the floor when no live event came first', async () => {
    answers.push(() => Promise.resolve({ items: [item('90')] }));
    service.opened(source({ lastNotificationId: null }));
    await settle();
    expect(book.cursorOf(7)).toBe('90');
    expect(dispatched).toEqual([]);
    expect(await outcomes()).toEqual({ floor: 1 });
  });

  it('relays what REST lists since the cursor oldest first, then the live events held meanwhile, each id once', async () => {
    let answer!: (page: Page) => void;
    answers.push(() => new Promise((resolve) => (answer = resolve)));
    service.opened(source());
    expect(requests[0]).toMatchObject({ sinceId: '100', limit: 6 });
    service.relay(live('103'));
    service.relay(live('104'));
    expect(dispatched).toEqual([]);
    answer({ items: [item('103'), item('102'), item('101')] });
    await settle();
    expect(kinds()).toEqual(['rest 101', 'rest 102', 'rest 103', 'live 104']);
    // a late stream copy of a fetched object is dropped too
    service.relay(live('102'));
    service.relay(live('105'));
    expect(kinds()).toEqual(['rest 101', 'rest 102', 'rest 103', 'live 104', 'live 105']);
    expect(dispatched[0].payload).toBe('{"id":"101"}');
    expect(dispatched[0].event).toBe('notification');
    // every relayed event, fetched or live, counts as the registration's last relay
    expect(relayedAt.map(([id]) => id)).toEqual([7, 7, 7, 7, 7]);
    expect(relayedAt.map(([, at]) => at)).toEqual(dispatched.map((e) => e.receivedAt));
    // the held 103 and the late 102 were duplicates
    expect(await outcomes()).toEqual({ relayed: 3, duplicate: 2 });
  });

  it('follows older pages while they are full and keeps the newest CATCHUP_MAX_ITEMS', async () => {
    answers.push(async () => ({
      items: ['110', '109', '108'].map((id) => item(id)),
      next: { maxId: '108' },
    }));
    answers.push(async () => ({
      items: ['107', '106', '105'].map((id) => item(id)),
      next: { maxId: '105' },
    }));
    service.opened(source());
    await settle();
    await settle();
    expect(requests.map((r) => [r.limit, r.sinceId, r.maxId])).toEqual([
      [6, '100', undefined],
      [3, '100', '108'],
    ]);
    expect(kinds()).toEqual(['rest 106', 'rest 107', 'rest 108', 'rest 109', 'rest 110']);
    expect(await outcomes()).toEqual({ relayed: 5, skipped_max_items: 1 });
  });

  it('skips missed objects older than CATCHUP_MAX_AGE_HOURS', async () => {
    const old = Date.now() - 25 * 3_600_000;
    answers.push(async () => ({ items: [item('103'), item('102', old), item('101', old)] }));
    service.opened(source());
    await settle();
    expect(kinds()).toEqual(['rest 103']);
    expect(await outcomes()).toEqual({ relayed: 1, skipped_age: 2 });
  });

  it('lets the held live events go when the catch-up fails, holds the cursor, and retries without relaying them twice', async () => {
    book.adopt(7, 'notifications', '100');
    let fail!: (error: Error) => void;
    answers.push(() => new Promise((_resolve, reject) => (fail = reject)));
    service.opened(source());
    service.relay(live('103'));
    expect(dispatched).toEqual([]);
    fail(new MastodonRestError('server', 'GET /api/v1/notifications answered HTTP 502', 502));
    await settle();
    expect(kinds()).toEqual(['live 103']);
    book.settled(7, '103');
    expect(book.cursorOf(7)).toBe('100');
    service.relay(live('104'));
    answers.push(async () => ({ items: [item('104'), item('103'), item('102'), item('101')] }));
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(requests.map((r) => r.sinceId)).toEqual(['100', '100']);
    expect(kinds()).toEqual(['live 103', 'live 104', 'rest 101', 'rest 102']);
    // 103 and 104 were relayed live already
    expect(await outcomes()).toEqual({ failed: 1, relayed: 2, duplicate: 2 });
    book.settled(7, '104');
    book.settled(7, '101');
    expect(book.cursorOf(7)).toBe('100');
    book.settled(7, '102');
    expect(book.cursorOf(7)).toBe('104');
  });

  it('lets the live events go after a second when the catch-up is slow, and relays the fetched ones after them once', async () => {
    let answer!: (page: Page) => void;
    answers.push(() => new Promise((resolve) => (answer = resolve)));
    service.opened(source());
    service.relay(live('102'));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(kinds()).toEqual(['live 102']);
    service.relay(live('103'));
    answer({ items: [item('103'), item('102'), item('101')] });
    await settle();
    expect(kinds()).toEqual(['live 102', 'live 103', 'rest 101']);
    book.settled(7, '102');
    book.settled(7, '103');
    expect(book.cursorOf(7)).toBe('100');
    book.settled(7, '101');
    expect(book.cursorOf(7)).toBe('103');
  });

  it('does not retry a failed floor once a live event has set the cursor', async () => {
    // the retry comes when the test says: a loaded machine may run a due timer before setImmediate
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    try {
      answers.push(() => Promise.reject(new MastodonRestError('timeout', 'no answer')));
      service.opened(source({ lastNotificationId: null }));
      await settle();
      service.relay(live('50'));
      jest.advanceTimersByTime(40);
      await settle();
      expect(requests).toHaveLength(1);
      expect(kinds()).toEqual(['live 50']);
    } finally {
      service.onModuleDestroy();
      jest.useRealTimers();
    }
  });

  it('pauses the instance after a 429 until its Retry-After', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    try {
      const retryAt = Date.now() + 60;
      answers.push(() =>
        Promise.reject(new MastodonRestError('rate_limited', 'HTTP 429', 429, retryAt)),
      );
      service.opened(source());
      await settle();
      // another registration of the instance does not ask while the instance asked us to wait
      service.opened(source({ id: 8 }));
      expect(requests).toHaveLength(1);
      jest.advanceTimersByTime(59);
      await settle();
      expect(requests).toHaveLength(1);
      jest.advanceTimersByTime(1);
      await settle();
      expect(requests.length).toBeGreaterThanOrEqual(2);
    } finally {
      service.onModuleDestroy();
      jest.useRealTimers();
    }
  });

  it('reports a 401 as revoked and a 403 as scope', async () => {
    answers.push(() => Promise.reject(new MastodonRestError('unauthorized', 'HTTP 401', 401)));
    service.opened(source());
    await settle();
    answers.push(() => Promise.reject(new MastodonRestError('forbidden', 'HTTP 403', 403)));
    service.opened(source({ id: 9, lastNotificationId: null }));
    await settle();
    expect(refused).toEqual([
      [7, 'revoked'],
      [9, 'scope'],
    ]);
  });

  it('reads conversations on the direct stream and relays them as conversation events', async () => {
    answers.push(async () => ({ items: [item('113000000000000000002')] }));
    service.opened(source({ lastNotificationId: '113000000000000000001' }, 'direct'));
    await settle();
    expect(requests[0].collection).toBe('conversations');
    expect(dispatched.map((e) => [e.event, e.objectId])).toEqual([
      ['conversation', '113000000000000000002'],
    ]);
  });

  it('catches up from the newest live event, not from the floor, when the stream reopened while the floor was fetched', async () => {
    let answer!: (page: Page) => void;
    answers.push(() => new Promise((resolve) => (answer = resolve)));
    service.opened(source({ lastNotificationId: null }));
    service.relay(live('50'));
    book.settled(7, '50');
    // the stream drops and comes back; 90 was made while it was away
    service.opened(source({ lastNotificationId: null }));
    answer({ items: [item('90')] });
    await settle();
    await settle();
    expect(requests.map((r) => [r.limit, r.sinceId])).toEqual([
      [1, undefined],
      [6, '50'],
    ]);
  });

  it('keeps a live event that came before the floor as the floor: a drop before the answer hides nothing', async () => {
    let answer!: (page: Page) => void;
    answers.push(() => new Promise((resolve) => (answer = resolve)));
    service.opened(source({ lastNotificationId: null }));
    service.relay(live('50'));
    book.settled(7, '50');
    // the socket drops; 90 is made meanwhile and listed by the floor's answer before the stream reopens
    answer({ items: [item('90')] });
    await settle();
    expect(book.cursorOf(7)).toBe('50');
    service.opened(source({ lastNotificationId: null }));
    expect(requests.map((r) => [r.limit, r.sinceId])).toEqual([
      [1, undefined],
      [6, '50'],
    ]);
  });

  it('runs once more when the stream reopened during a catch-up', async () => {
    let answer!: (page: Page) => void;
    answers.push(() => new Promise((resolve) => (answer = resolve)));
    service.opened(source());
    service.opened(source());
    expect(requests).toHaveLength(1);
    answer({ items: [item('101')] });
    await settle();
    await settle();
    expect(requests.map((r) => r.sinceId)).toEqual(['100', '101']);
  });

  it('keeps to its share of the per-instance limit, the rest being other listeners', async () => {
    const pending: ((page: Page) => void)[] = [];
    for (let i = 0; i < 3; i++) answers.push(() => new Promise((resolve) => pending.push(resolve)));
    shareTakenByOthers = 1;
    for (const id of [7, 8, 9]) service.opened(source({ id }));
    // CATCHUP_MAX_CONCURRENCY_PER_INSTANCE is 2; another listener holds 1 of it
    expect(requests).toHaveLength(1);
    pending[0]({ items: [] });
    await settle();
    expect(requests).toHaveLength(2);
  });

  it('lets the held live events go once 5,000 wait, and does not relay them again from REST', async () => {
    let answer!: (page: Page) => void;
    answers.push(() => new Promise((resolve) => (answer = resolve)));
    service.opened(source());
    for (let i = 0; i < 5_000; i++) service.relay(live(String(1_000 + i)));
    expect(dispatched).toHaveLength(0);
    service.relay(live('7000'));
    expect(dispatched).toHaveLength(5_001);
    expect(kinds().slice(-2)).toEqual(['live 5999', 'live 7000']);
    answer({ items: [item('1000'), item('101')] });
    await settle();
    expect(dispatched).toHaveLength(5_002);
    expect(kinds().slice(-1)).toEqual(['rest 101']);
  });

  it('keeps the cursor before the gap while a catch-up that let 5,000 live events go still runs', async () => {
    let answer!: (page: Page) => void;
    answers.push(() => new Promise((resolve) => (answer = resolve)));
    service.opened(source());
    for (let i = 0; i <= 5_000; i++) service.relay(live(String(1_000 + i)));
    for (let i = 0; i <= 5_000; i++) book.settled(7, String(1_000 + i));
    // a crash now must find the stored cursor before what REST has not answered yet
    expect(book.cursorOf(7)).toBe('100');
    answer({ items: [item('101')] });
    await settle();
    book.settled(7, '101');
    expect(book.cursorOf(7)).toBe('6000');
  });

  it('retries a failed catch-up from where its gap starts, also before any cursor was stored', () =>
    onLongestBackoff(async () => {
      answers.push(() => Promise.reject(new MastodonRestError('timeout', 'no answer')));
      service.opened(source({ lastNotificationId: null }));
      await settle();
      // the floor failed; a live event, not yet safe, stands for it
      service.relay(live('50'));
      answers.push(() => Promise.reject(new MastodonRestError('timeout', 'no answer')));
      service.opened(source({ lastNotificationId: null }));
      await settle();
      answers.push(async () => ({ items: [item('51')] }));
      jest.advanceTimersByTime(20);
      await settle();
      expect(requests.map((r) => r.sinceId)).toEqual([undefined, '50', '50']);
      expect(kinds()).toEqual(['live 50', 'rest 51']);
      book.settled(7, '50');
      book.settled(7, '51');
      expect(book.cursorOf(7)).toBe('51');
    }));

  it('ends a hold left from another id space with the floor taken there', () =>
    onLongestBackoff(async () => {
      book.adopt(7, 'notifications', '100');
      let fail!: (error: Error) => void;
      answers.push(() => new Promise((_resolve, reject) => (fail = reject)));
      service.opened(source());
      // the endpoint changes to direct while that catch-up runs: conversations start from a floor
      service.opened(source({}, 'direct'));
      fail(new MastodonRestError('server', 'GET /api/v1/notifications answered HTTP 502', 502));
      await settle();
      answers.push(async () => ({ items: [item('900')] }));
      jest.advanceTimersByTime(10);
      await settle();
      expect(requests.map((r) => [r.collection, r.sinceId, r.limit])).toEqual([
        ['notifications', '100', 6],
        ['conversations', undefined, 1],
      ]);
      expect(book.cursorOf(7)).toBe('900');
      expect(book.isHeld(7)).toBe(false);
    }));

  it('asks the instance itself, guarded, unless a web address replaces it or private addresses are allowed', () => {
    service.opened({ ...source(), instance: {} });
    service.opened({ ...source({ id: 8 }), instance: { allowPrivateAddress: true } });
    expect(requests.map((r) => [r.base, r.guard])).toEqual([
      ['https://m.example', true],
      ['https://m.example', false],
    ]);
  });

  it('does not hold the live events of a registration whose instance asked to wait: no request, relayed at once', async () => {
    answers.push(async () => ({ items: [], rateLimitedUntil: Date.now() + 60_000 }));
    service.opened(source());
    await settle();
    service.opened(source({ id: 8 }));
    service.relay({ ...live('120'), registrationId: 8 });
    expect(requests).toHaveLength(1);
    expect(dispatched.map((e) => [e.registrationId, e.objectId])).toEqual([[8, '120']]);
  });

  it('waits a minute after a 429 that does not say how long', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    try {
      answers.push(() => Promise.reject(new MastodonRestError('rate_limited', 'HTTP 429', 429)));
      service.opened(source());
      await settle();
      jest.advanceTimersByTime(59_000);
      await settle();
      expect(requests).toHaveLength(1);
      jest.advanceTimersByTime(1_000);
      await settle();
      expect(requests).toHaveLength(2);
    } finally {
      service.onModuleDestroy();
      jest.useRealTimers();
    }
  });

  it('retries no catch-up of a stopped stream, and forgets the cursor only with the registration', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    try {
      answers.push(() => Promise.reject(new MastodonRestError('server', 'HTTP 502', 502)));
      service.opened(source());
      await settle();
      service.stopped(7, false);
      jest.advanceTimersByTime(1_000);
      await settle();
      expect(requests).toHaveLength(1);
      expect(book.knows(7)).toBe(true);
      service.stopped(7, true);
      expect(book.knows(7)).toBe(false);
    } finally {
      service.onModuleDestroy();
      jest.useRealTimers();
    }
  });

  it('retries a failed catch-up on the backoff, and none once stopping', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    try {
      answers.push(() => Promise.reject(new MastodonRestError('server', 'HTTP 502', 502)));
      answers.push(() => Promise.reject(new MastodonRestError('server', 'HTTP 502', 502)));
      service.opened(source());
      await settle();
      jest.advanceTimersByTime(20);
      await settle();
      expect(requests).toHaveLength(2);
      service.onModuleDestroy();
      jest.advanceTimersByTime(1_000);
      await settle();
      service.opened(source({ id: 8 }));
      expect(requests).toHaveLength(2);
    } finally {
      jest.useRealTimers();
    }
  });

  it('tells no listener that unsubscribed of a refused token', async () => {
    const heard: number[] = [];
    const unsubscribe = service.onTokenRefused((id) => heard.push(id));
    unsubscribe();
    answers.push(() => Promise.reject(new MastodonRestError('unauthorized', 'HTTP 401', 401)));
    service.opened(source());
    await settle();
    expect(heard).toEqual([]);
    expect(refused).toEqual([[7, 'revoked']]);
  });

  it('asks for one floor when the stream reopens while it is fetched, then catches up from it', async () => {
    let answer!: (page: Page) => void;
    answers.push(() => new Promise((resolve) => (answer = resolve)));
    service.opened(source({ lastNotificationId: null }));
    service.opened(source({ lastNotificationId: null }));
    expect(requests).toHaveLength(1);
    answer({ items: [item('90')] });
    await settle();
    expect(requests.map((r) => [r.limit, r.sinceId])).toEqual([
      [1, undefined],
      [6, '90'],
    ]);
  });

  it('takes "0" as the floor of an empty account, and catches up from it', async () => {
    service.opened(source({ lastNotificationId: null }));
    await settle();
    expect(await outcomes()).toEqual({ floor: 1 });
    service.opened(source({ lastNotificationId: null }));
    expect(requests.map((r) => [r.limit, r.sinceId])).toEqual([
      [1, undefined],
      [6, '0'],
    ]);
  });

  it('ignores the answer to the floor of a stream stopped meanwhile, taken or failed', async () => {
    let answer!: (page: Page) => void;
    let fail!: (error: Error) => void;
    answers.push(() => new Promise((resolve) => (answer = resolve)));
    answers.push(() => new Promise((_resolve, reject) => (fail = reject)));
    service.opened(source({ lastNotificationId: null }));
    service.opened(source({ id: 8, lastNotificationId: null }));
    service.stopped(7, false);
    service.stopped(8, false);
    answer({ items: [item('90')] });
    fail(new MastodonRestError('server', 'HTTP 502', 502));
    await settle();
    expect(book.cursorOf(7)).toBeNull();
    expect(book.cursorOf(8)).toBeNull();
    expect(await outcomes()).toEqual({});
  });

  it('relays nothing a stream stopped during its catch-up missed, asks no further page, and counts no failure', async () => {
    let answer!: (page: Page) => void;
    let fail!: (error: Error) => void;
    answers.push(() => new Promise((_resolve, reject) => (fail = reject)));
    answers.push(async () => ({ items: [item('110'), item('109')], next: { maxId: '109' } }));
    answers.push(() => new Promise((resolve) => (answer = resolve)));
    service.opened(source({ id: 8 }));
    service.opened(source());
    await settle();
    // 7 has its first page and waits for the second
    expect(requests.map((r) => r.maxId)).toEqual([undefined, undefined, '109']);
    service.stopped(7, false);
    service.stopped(8, false);
    answer({ items: [item('108'), item('107')], next: { maxId: '107' } });
    fail(new MastodonRestError('server', 'HTTP 502', 502));
    await settle();
    expect(requests).toHaveLength(3);
    expect(dispatched).toEqual([]);
    expect(book.isHeld(8)).toBe(false);
    expect(await outcomes()).toEqual({});
  });

  it('relays nothing at or below the cursor that a page lists', async () => {
    answers.push(async () => ({ items: [item('102'), item('101'), item('100')] }));
    service.opened(source());
    await settle();
    expect(kinds()).toEqual(['rest 101', 'rest 102']);
  });

  it('stops at a page with nothing newer than the cursor, even one that links to more', async () => {
    answers.push(async () => ({ items: [item('100'), item('99')], next: { maxId: '99' } }));
    service.opened(source());
    await settle();
    expect(requests).toHaveLength(1);
    expect(dispatched).toEqual([]);
    expect(book.isHeld(7)).toBe(false);
    expect(await outcomes()).toEqual({});
  });

  it('drops what a page repeats of the one before, and pages on without a next link to notice a skip', async () => {
    answers.push(async () => ({
      items: ['110', '109', '108'].map((id) => item(id)),
      next: { maxId: '108' },
    }));
    // an instance that lists its max_id again, and links no further page
    answers.push(async () => ({ items: ['108', '107', '106'].map((id) => item(id)) }));
    answers.push(async () => ({ items: [item('105')] }));
    service.opened(source());
    await settle();
    expect(requests.map((r) => [r.limit, r.maxId])).toEqual([
      [6, undefined],
      [3, '108'],
      [1, '106'],
    ]);
    expect(kinds()).toEqual(['rest 106', 'rest 107', 'rest 108', 'rest 109', 'rest 110']);
    expect(await outcomes()).toEqual({ relayed: 5, skipped_max_items: 1 });
  });

  it('stops paging at the first object older than CATCHUP_MAX_AGE_HOURS and counts the rest of its page as skipped', async () => {
    const old = Date.now() - 25 * 3_600_000;
    answers.push(async () => ({
      items: [item('106'), item('105'), ...['104', '103', '102', '101'].map((id) => item(id, old))],
      next: { maxId: '101' },
    }));
    service.opened(source());
    await settle();
    expect(requests).toHaveLength(1);
    expect(kinds()).toEqual(['rest 105', 'rest 106']);
    expect(await outcomes()).toEqual({ relayed: 2, skipped_age: 4 });
  });

  it('relays missed objects up to exactly CATCHUP_MAX_AGE_HOURS old', () =>
    onFakeTimers(async () => {
      const now = Date.now();
      answers.push(async () => ({
        items: [
          item('103', now - 23 * 3_600_000),
          item('102', now - 24 * 3_600_000),
          item('101', now - 24 * 3_600_000 - 1),
        ],
      }));
      service.opened(source());
      await settle();
      expect(kinds()).toEqual(['rest 102', 'rest 103']);
      expect(await outcomes()).toEqual({ relayed: 2, skipped_age: 1 });
    }));

  it('keeps dropping late stream copies of what a catch-up relayed after a later one found nothing', async () => {
    answers.push(async () => ({ items: [item('101')] }));
    service.opened(source());
    await settle();
    service.opened(source());
    await settle();
    expect(requests.map((r) => r.sinceId)).toEqual(['100', '101']);
    service.relay(live('101'));
    service.relay(live('102'));
    expect(kinds()).toEqual(['rest 101', 'live 102']);
    expect(await outcomes()).toEqual({ relayed: 1, duplicate: 1 });
  });

  it('does not relay again from REST a live event relayed after the hold of a slow catch-up ended with none held', () =>
    onFakeTimers(async () => {
      let answer!: (page: Page) => void;
      answers.push(() => new Promise((resolve) => (answer = resolve)));
      service.opened(source());
      jest.advanceTimersByTime(1_000);
      service.relay(live('102'));
      expect(kinds()).toEqual(['live 102']);
      answer({ items: [item('102'), item('101')] });
      await settle();
      expect(kinds()).toEqual(['live 102', 'rest 101']);
      expect(await outcomes()).toEqual({ relayed: 1, duplicate: 1 });
    }));

  it('does not relay again from REST a live event relayed after a catch-up failed with none held', () =>
    onFakeTimers(async () => {
      answers.push(() => Promise.reject(new MastodonRestError('server', 'HTTP 502', 502)));
      service.opened(source());
      await settle();
      service.relay(live('104'));
      answers.push(async () => ({ items: [item('104'), item('101')] }));
      jest.advanceTimersByTime(20);
      await settle();
      expect(requests.map((r) => r.sinceId)).toEqual(['100', '100']);
      expect(kinds()).toEqual(['live 104', 'rest 101']);
    }));

  it('catches up over the gap once the instance that asked to wait lets it, not relaying again what went live meanwhile', () =>
    onFakeTimers(async () => {
      answers.push(async () => ({ items: [], rateLimitedUntil: Date.now() + 60_000 }));
      service.opened(source());
      await settle();
      service.opened(source({ id: 8 }));
      service.relay({ ...live('120'), registrationId: 8 });
      answers.push(async () => ({ items: [item('120'), item('101')] }));
      jest.advanceTimersByTime(60_000);
      await settle();
      expect(requests.map((r) => r.sinceId)).toEqual(['100', '100']);
      expect(dispatched.map((e) => e.registrationId)).toEqual([8, 8]);
      expect(kinds()).toEqual(['live 120', 'rest 101']);
      expect(await outcomes()).toEqual({ rate_limited: 1, relayed: 1, duplicate: 1 });
    }));

  it('remembers at most 5,000 ids relayed live while a failed catch-up waits: an id beyond them may come again', () =>
    onFakeTimers(async () => {
      answers.push(() => Promise.reject(new MastodonRestError('server', 'HTTP 502', 502)));
      service.opened(source());
      await settle();
      for (let i = 0; i <= 5_000; i++) service.relay(live(String(1_000 + i)));
      answers.push(async () => ({ items: [item('6000'), item('5999')] }));
      jest.advanceTimersByTime(20);
      await settle();
      expect(dispatched).toHaveLength(5_002);
      expect(kinds().slice(-1)).toEqual(['rest 6000']);
    }));

  it('remembers at most 5,000 ids of live events let go, counting those remembered before', () =>
    onFakeTimers(async () => {
      answers.push(() => Promise.reject(new MastodonRestError('server', 'HTTP 502', 502)));
      service.opened(source());
      await settle();
      service.relay(live('999'));
      let answer!: (page: Page) => void;
      answers.push(() => new Promise((resolve) => (answer = resolve)));
      jest.advanceTimersByTime(20);
      expect(requests).toHaveLength(2);
      // 5,000 held, then one more lets them go
      for (let i = 0; i < 5_000; i++) service.relay(live(String(1_000 + i)));
      service.relay(live('7000'));
      expect(dispatched).toHaveLength(5_002);
      answer({ items: [item('5999'), item('5998')] });
      await settle();
      expect(dispatched).toHaveLength(5_003);
      expect(kinds().slice(-1)).toEqual(['rest 5999']);
    }));

  it('catches up again when the stream reopens after its token was refused', async () => {
    answers.push(() => Promise.reject(new MastodonRestError('unauthorized', 'HTTP 401', 401)));
    service.opened(source());
    await settle();
    expect(refused).toEqual([[7, 'revoked']]);
    service.opened(source());
    expect(requests).toHaveLength(2);
  });

  it('waits longer after each failed attempt', () =>
    onLongestBackoff(async () => {
      for (let i = 0; i < 2; i++)
        answers.push(() => Promise.reject(new MastodonRestError('server', 'HTTP 502', 502)));
      service.opened(source());
      await settle();
      jest.advanceTimersByTime(9);
      expect(requests).toHaveLength(1);
      jest.advanceTimersByTime(1);
      await settle();
      expect(requests).toHaveLength(2);
      jest.advanceTimersByTime(19);
      expect(requests).toHaveLength(2);
      jest.advanceTimersByTime(1);
      expect(requests).toHaveLength(3);
      expect(await outcomes()).toEqual({ failed: 2 });
    }));

  it('starts the backoff over after a failed floor that a live event made unnecessary', () =>
    onLongestBackoff(async () => {
      answers.push(() => Promise.reject(new MastodonRestError('timeout', 'no answer')));
      service.opened(source({ lastNotificationId: null }));
      await settle();
      service.relay(live('50'));
      book.settled(7, '50');
      jest.advanceTimersByTime(10);
      await settle();
      expect(requests).toHaveLength(1);
      answers.push(() => Promise.reject(new MastodonRestError('timeout', 'no answer')));
      service.opened(source({ lastNotificationId: null }));
      await settle();
      jest.advanceTimersByTime(10);
      expect(requests.map((r) => r.sinceId)).toEqual([undefined, '50', '50']);
    }));

  it('leaves no timer running once the module is destroyed', () =>
    onFakeTimers(async () => {
      answers.push(() => new Promise(() => undefined));
      answers.push(() => Promise.reject(new MastodonRestError('server', 'HTTP 502', 502)));
      service.opened(source());
      service.opened(source({ id: 8 }));
      await settle();
      // the hold of 7's catch-up, the retry of 8's
      expect(jest.getTimerCount()).toBe(2);
      service.onModuleDestroy();
      expect(jest.getTimerCount()).toBe(0);
    }));
});
