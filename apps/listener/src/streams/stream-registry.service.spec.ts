import { CallbackDispatcher } from '@app/callback';
import { InstanceEntry, Settings } from '@app/config';
import { Registration, RemovalReason } from '@app/database';
import {
  MastodonStream,
  MastodonStreamFactory,
  StreamEnd,
  StreamTarget,
  StreamTargetError,
  StreamTargetService,
} from '@app/mastodon';
import { strictStub } from '../../../../test/support/strict-stub';
import { CatchUpService } from '../catch-up/catch-up.service';
import { EventRouterService } from '../events/event-router.service';
import { RegistrationRemovalService } from '../lifecycle/registration-removal.service';
import { RegistrationStateRecorder } from '../lifecycle/registration-state.recorder';
import { ListenerMetrics } from '../listener.metrics';
import { EventLoopLagService } from './event-loop-lag.service';
import { StreamEntry } from './stream-entry';
import { StreamRegistryService } from './stream-registry.service';
import { soleMemberStub } from '../membership/membership.mock';

const settings = {
  listener: {
    pingIntervalMs: 1_000,
    reconnectBaseMs: 100,
    reconnectMaxMs: 1_000,
    maxOpeningPerInstance: 50,
    probeBaseMs: 200,
    probeMaxMs: 800,
  },
} as Settings;

class FakeStream {
  readonly open = jest.fn();
  readonly close = jest.fn();
  readonly terminate = jest.fn();
  readonly ping = jest.fn().mockReturnValue(true);
  constructor(readonly context: StreamEntry) {}
}

function registration(id: number, overrides: Partial<Registration> = {}): Registration {
  return {
    id,
    lastUpdate: 1_000 + id,
    instanceUrl: 'https://m.example',
    appId: 'app',
    tag: `t${id}`,
    accessToken: `token-${id}`,
    appSecretHash: 'sha256:x',
    callbackUrl: `https://cb.example/${id}`,
    endpoint: null,
    ...overrides,
  };
}

const end = (overrides: Partial<StreamEnd>): StreamEnd => ({
  reason: 'network',
  opened: false,
  deliberate: false,
  detail: 'x',
  ...overrides,
});

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('StreamRegistryService', () => {
  let calls: string[];
  let streams: FakeStream[];
  let resolve: jest.Mock<
    Promise<StreamTarget>,
    [{ instanceUrl: string; endpoint: string | null; instance: InstanceEntry }]
  >;
  let route: jest.Mock;
  let remove: jest.Mock<Promise<boolean>, [Registration, RemovalReason, string]>;
  let states: string[];
  let forgetRegistration: jest.Mock<void, [number]>;
  let metrics: { gauge: number; connects: number; reconnects: number; failures: string[] };
  let registry: StreamRegistryService;
  /** What the EventLoopLagService stub says. */
  let loopBehind: boolean;
  const target: StreamTarget = {
    url: new URL('ws://10.0.0.2/api/v1/streaming?stream=user'),
    endpoint: 'user',
    guard: false,
  };

  beforeEach(() => {
    jest.useFakeTimers();
    calls = [];
    streams = [];
    metrics = { gauge: 0, connects: 0, reconnects: 0, failures: [] };
    resolve = jest.fn().mockResolvedValue(target);
    route = jest.fn();
    remove = jest.fn().mockImplementation(async (row: Registration, reason: RemovalReason) => {
      calls.push(`remove ${row.id} ${reason}`);
      return true;
    });
    states = [];
    const recorder = strictStub<RegistrationStateRecorder>('RegistrationStateRecorder', {
      record: (id: number, state: string, details: { lastError?: string } = {}) => {
        states.push(`${id} ${state}${details.lastError ? `: ${details.lastError}` : ''}`);
      },
      forget: () => undefined,
    });
    forgetRegistration = jest.fn().mockImplementation((id: number) => calls.push(`forget ${id}`));
    const factory = strictStub<MastodonStreamFactory>('MastodonStreamFactory', {
      create: <C>(context: C) => {
        const stream = new FakeStream(context as StreamEntry);
        stream.close.mockImplementation((code: number) =>
          calls.push(`close ${stream.context.id} ${code}`),
        );
        streams.push(stream);
        return stream as unknown as MastodonStream<C>;
      },
    });
    const listenerMetrics = strictStub<ListenerMetrics>('ListenerMetrics', {
      streamsOpen: {
        labels: () => ({ inc: () => (metrics.gauge += 1), dec: () => (metrics.gauge -= 1) }),
      } as never,
      connects: { labels: () => ({ inc: () => (metrics.connects += 1) }) } as never,
      reconnects: { labels: () => ({ inc: () => (metrics.reconnects += 1) }) } as never,
      streamFailed: (_instance: string, reason: string) => {
        metrics.failures.push(reason);
      },
    });
    loopBehind = false;
    registry = new StreamRegistryService(
      strictStub<StreamTargetService>('StreamTargetService', { resolve: resolve as never }),
      factory,
      strictStub<EventRouterService>('EventRouterService', { route }),
      recorder,
      strictStub<RegistrationRemovalService>('RegistrationRemovalService', { remove }),
      strictStub<CallbackDispatcher>('CallbackDispatcher', { forgetRegistration }),
      listenerMetrics,
      strictStub<CatchUpService>('CatchUpService', {
        onTokenRefused: jest.fn(),
        opened: jest.fn(),
        stopped: jest.fn(),
      }),
      soleMemberStub(),
      strictStub<EventLoopLagService>('EventLoopLagService', {
        openingLimit: (limit: number) => (loopBehind ? Math.max(1, Math.ceil(limit / 4)) : limit),
      }),
      settings,
    );
    jest
      .spyOn((registry as unknown as { logger: object }).logger as { log: () => void }, 'log')
      .mockImplementation(() => undefined);
    jest
      .spyOn((registry as unknown as { logger: object }).logger as { warn: () => void }, 'warn')
      .mockImplementation(() => undefined);
    jest
      .spyOn((registry as unknown as { logger: object }).logger as { debug: () => void }, 'debug')
      .mockImplementation(() => undefined);
  });

  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  function opened(stream: FakeStream): void {
    registry.streamOpened(stream as unknown as MastodonStream<StreamEntry>);
  }

  function ended(stream: FakeStream, how: Partial<StreamEnd>): void {
    registry.streamEnded(stream as unknown as MastodonStream<StreamEntry>, end(how));
  }

  it('resolves the target, then opens a stream with the registration’s token, and counts it once open', async () => {
    registry.ensure(registration(1, { endpoint: 'direct' }), { replaceUrl: 'http://10.0.0.2' });
    expect(resolve).toHaveBeenCalledWith({
      instanceUrl: 'https://m.example',
      endpoint: 'direct',
      instance: { replaceUrl: 'http://10.0.0.2' },
    });
    expect(streams).toHaveLength(0);
    await flush();
    expect(streams).toHaveLength(1);
    expect(streams[0].open).toHaveBeenCalledWith({
      url: target.url,
      accessToken: 'token-1',
      guard: false,
    });
    expect(registry.openCount).toBe(0);
    opened(streams[0]);
    expect([registry.openCount, metrics.gauge, metrics.connects]).toEqual([1, 1, 1]);

    const data = Buffer.from('{}');
    registry.streamMessage(streams[0] as unknown as MastodonStream<StreamEntry>, data, false);
    expect(route).toHaveBeenCalledWith(streams[0].context, data, false, expect.any(Number));
    expect(streams[0].context.endpoint).toBe('user');
  });

  it('reconnects on a new token or endpoint, closing the old stream first; a new callback URL just updates', async () => {
    registry.ensure(registration(1), {});
    await flush();
    opened(streams[0]);

    registry.ensure(registration(1, { callbackUrl: 'https://cb.example/new' }), {});
    expect(streams).toHaveLength(1);
    expect(streams[0].context.registration.callbackUrl).toBe('https://cb.example/new');

    registry.ensure(registration(1, { accessToken: 'rotated' }), {});
    expect(calls).toEqual(['close 1 1000']);
    await flush();
    expect(streams).toHaveLength(2);
    expect(streams[1].open).toHaveBeenCalledWith(
      expect.objectContaining({ accessToken: 'rotated' }),
    );
    ended(streams[0], { deliberate: true, opened: true, reason: 'closed', code: 1000 });
    expect(metrics.gauge).toBe(0);
    expect(metrics.failures).toEqual([]);

    registry.ensure(registration(1, { accessToken: 'rotated', endpoint: 'direct' }), {});
    await flush();
    expect(streams).toHaveLength(3);
  });

  it('retries a failed connection after a backoff delay', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    registry.ensure(registration(1), {});
    await flush();
    ended(streams[0], { reason: 'network' });
    expect(metrics.failures).toEqual(['network']);
    expect(resolve).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(99);
    expect(resolve).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(1);
    expect(resolve).toHaveBeenCalledTimes(2);
    expect(metrics.reconnects).toBe(1);
    await flush();
    expect(streams).toHaveLength(2);
  });

  it('retries when the instance info is unavailable, counting it as instance_info', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    resolve.mockRejectedValueOnce(
      new StreamTargetError('instance_info', 'instance info unavailable: answered HTTP 503'),
    );
    registry.ensure(registration(1), {});
    await flush();
    expect(metrics.failures).toEqual(['instance_info']);
    expect(streams).toHaveLength(0);
    jest.advanceTimersByTime(100);
    await flush();
    expect(streams).toHaveLength(1);
  });

  it('while its instance is down, streams wait for one probe and all reopen when it connects', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    for (const id of [1, 2, 3, 4]) registry.ensure(registration(id), {});
    await flush();
    for (const stream of streams) opened(stream);
    // the instance goes away: every open stream is cut, upgrades answer 503
    ended(streams[0], { reason: 'closed', opened: true, code: 1006 });
    ended(streams[1], { reason: 'closed', opened: true, code: 1006 });
    jest.advanceTimersByTime(100);
    await flush();
    expect(streams).toHaveLength(6);
    ended(streams[4], { reason: 'http_status', status: 503 });
    ended(streams[2], { reason: 'network', opened: true });
    ended(streams[3], { reason: 'network', opened: true });
    ended(streams[5], { reason: 'http_status', status: 503 });
    // no attempt of their own (their reconnect delay is 100 ms): one probe after probeBaseMs
    jest.advanceTimersByTime(199);
    await flush();
    expect(streams).toHaveLength(6);
    jest.advanceTimersByTime(1);
    await flush();
    expect(streams).toHaveLength(7);
    ended(streams[6], { reason: 'http_status', status: 503 });
    jest.advanceTimersByTime(199);
    await flush();
    expect(streams).toHaveLength(7);
    jest.advanceTimersByTime(1);
    await flush();
    expect(streams).toHaveLength(8);
    const probe = streams[7].context.id;
    opened(streams[7]);
    await flush();
    expect(
      streams
        .slice(8)
        .map((s) => s.context.id)
        .sort(),
    ).toEqual([1, 2, 3, 4].filter((id) => id !== probe));
  });

  it('does not count a 401 towards an outage: the instance answered', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    for (const id of [1, 2, 3]) registry.ensure(registration(id), {});
    await flush();
    ended(streams[0], { reason: 'network' });
    ended(streams[1], { reason: 'network' });
    ended(streams[2], { reason: 'unauthorized', status: 401 });
    jest.advanceTimersByTime(100);
    await flush();
    expect(streams.slice(3).map((s) => s.context.id)).toEqual([1, 2]);
  });

  it('on 401 stops the stream, forgets its callbacks and removes the registration as revoked, without retrying', async () => {
    registry.ensure(registration(7), {});
    await flush();
    ended(streams[0], { reason: 'unauthorized', status: 401 });
    await flush();
    expect(calls).toEqual(['forget 7', 'remove 7 revoked']);
    expect(remove).toHaveBeenCalledWith(
      registration(7),
      'revoked',
      'the upgrade answered HTTP 401',
    );
    expect(registry.has(7)).toBe(false);
    expect(metrics.failures).toEqual(['unauthorized']);
    jest.advanceTimersByTime(10_000);
    expect(resolve).toHaveBeenCalledTimes(1);
  });

  it('reports each transition to the recorder: connecting, streaming, retrying with the error, streaming again', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    registry.ensure(registration(1), {});
    await flush();
    opened(streams[0]);
    ended(streams[0], {
      opened: true,
      reason: 'closed',
      code: 1006,
      detail: 'closed with code 1006',
    });
    jest.advanceTimersByTime(100);
    await flush();
    opened(streams[1]);
    expect(states).toEqual([
      '1 connecting',
      '1 streaming',
      '1 retrying: stream closed with code 1006',
      '1 streaming',
    ]);
  });

  it('on 403 removes the registration for its scope', async () => {
    registry.ensure(registration(7), {});
    await flush();
    ended(streams[0], { reason: 'unauthorized', status: 403 });
    await flush();
    expect(remove).toHaveBeenCalledWith(registration(7), 'scope', 'the upgrade answered HTTP 403');
  });

  it('ends the registration on an error frame refusing the token, closing its stream', async () => {
    route.mockReturnValue({ status: 401, error: 'Access token does not have the required scopes' });
    registry.ensure(registration(4), {});
    await flush();
    opened(streams[0]);
    registry.streamMessage(
      streams[0] as unknown as MastodonStream<StreamEntry>,
      Buffer.from('{}'),
      false,
    );
    await flush();
    expect(calls).toEqual(['forget 4', 'close 4 1000', 'remove 4 scope']);
    expect(remove.mock.calls[0][2]).toBe(
      'an error frame said 401: Access token does not have the required scopes',
    );
    expect(registry.has(4)).toBe(false);
    expect(metrics.failures).toEqual(['unauthorized']);
  });

  it('takes a close without a code then a 401 as one revocation: no warning for the close, one removal', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    const logger = (registry as unknown as { logger: { warn: jest.Mock; debug: jest.Mock } })
      .logger;
    registry.ensure(registration(5), {});
    await flush();
    opened(streams[0]);
    ended(streams[0], {
      opened: true,
      reason: 'closed',
      code: 1005,
      detail: 'closed with code 1005',
    });
    expect(logger.warn).not.toHaveBeenCalled();
    expect(logger.debug).toHaveBeenCalledWith(
      expect.stringContaining('stream closed with code 1005'),
    );
    jest.advanceTimersByTime(100);
    await flush();
    ended(streams[1], { reason: 'unauthorized', status: 401 });
    await flush();
    expect(remove).toHaveBeenCalledTimes(1);
    expect(remove.mock.calls[0][1]).toBe('revoked');
    expect(remove.mock.calls[0][2]).toBe(
      'the stream closed without a code, then the upgrade answered HTTP 401',
    );
    expect(logger.warn).not.toHaveBeenCalled();
  });

  it('records a refused token as unauthorized when its removal did not happen', async () => {
    remove.mockResolvedValue(false);
    registry.ensure(registration(8), {});
    await flush();
    ended(streams[0], { reason: 'unauthorized', status: 401 });
    await flush();
    expect(states).toEqual(['8 connecting', '8 unauthorized: the upgrade answered HTTP 401']);
  });

  it('does not reopen a revoked row read again before its deletion, but tries a renewed one', async () => {
    registry.ensure(registration(7), {});
    await flush();
    ended(streams[0], { reason: 'unauthorized', status: 401 });
    registry.ensure(registration(7), {});
    await flush();
    expect(streams).toHaveLength(1);
    registry.ensure(registration(7, { lastUpdate: 5_000, accessToken: 'new' }), {});
    await flush();
    expect(streams).toHaveLength(2);
    expect(streams[1].open).toHaveBeenCalledWith(expect.objectContaining({ accessToken: 'new' }));
  });

  it('keeps at most maxOpening handshakes per instance in progress', async () => {
    const instance = { maxOpening: 1 };
    registry.ensure(registration(1), instance);
    registry.ensure(registration(2), instance);
    await flush();
    expect(streams.map((s) => s.context.id)).toEqual([1]);
    opened(streams[0]);
    expect(streams.map((s) => s.context.id)).toEqual([1, 2]);
  });

  it('opens fewer handshakes at once while the event loop is behind, all of them again once it caught up', async () => {
    const instance = { maxOpening: 8 };
    loopBehind = true;
    for (const id of [1, 2, 3, 4, 5]) registry.ensure(registration(id), instance);
    await flush();
    // a quarter of 8
    expect(streams.map((s) => s.context.id)).toEqual([1, 2]);
    loopBehind = false;
    opened(streams[0]);
    await flush();
    expect(streams.map((s) => s.context.id)).toEqual([1, 2, 3, 4, 5]);
  });

  it('holds at most maxConnections streams per instance; the next waits for a stop', async () => {
    const instance = { maxConnections: 1 };
    registry.ensure(registration(1), instance);
    registry.ensure(registration(2), instance);
    await flush();
    expect(resolve).toHaveBeenCalledTimes(1);
    registry.stop(1, 'registration removed', { forget: true });
    expect(calls).toEqual(['forget 1', 'close 1 1000']);
    await flush();
    // the slot is held until the closing socket is gone
    expect(resolve).toHaveBeenCalledTimes(1);
    ended(streams[0], { deliberate: true, opened: false, reason: 'closed' });
    await flush();
    expect(streams.map((s) => s.context.id)).toEqual([1, 2]);
  });

  it('pings each open stream once per interval, one slice of the streams at a time', async () => {
    // pingIntervalMs 1000: four slices 250 ms apart, a stream's slice is its id modulo 4
    registry.onModuleInit();
    for (const id of [1, 2, 3, 4, 5]) registry.ensure(registration(id), {});
    await flush();
    for (const stream of streams.slice(0, 4)) opened(stream);
    const pingedIds = () =>
      streams.filter((s) => s.ping.mock.calls.length > 0).map((s) => s.context.id);
    jest.advanceTimersByTime(250);
    expect(pingedIds()).toEqual([4]);
    jest.advanceTimersByTime(250);
    expect(pingedIds()).toEqual([1, 4]);
    jest.advanceTimersByTime(500);
    expect(pingedIds()).toEqual([1, 2, 3, 4]);
    jest.advanceTimersByTime(1_000);
    // id 5 shares slice 1 with id 1 but is not open
    expect(streams.map((s): unknown[] => s.ping.mock.calls)).toEqual([
      [[false], [false]],
      [[false], [false]],
      [[false], [false]],
      [[false], [false]],
      [],
    ]);
  });

  it('forgives a missed pong when its own sweep ran late (the process was stalled)', async () => {
    registry.ensure(registration(4), {});
    await flush();
    opened(streams[0]);
    const sweep = (at: number) =>
      (registry as unknown as { pingSweep(now: number): void }).pingSweep(at);
    // slice 0 (id 4) comes every fourth sweep; sweeps are due 250 ms apart
    for (const at of [10_000, 10_250, 10_500, 10_750, 11_000, 11_250, 11_500, 11_750]) sweep(at);
    sweep(12_750); // 1 s late: more than a slice plus half the interval
    for (const at of [13_000, 13_250, 13_500, 13_750]) sweep(at);
    expect(streams[0].ping.mock.calls).toEqual([[false], [false], [true], [false]]);
  });

  it('closes every stream with 1001 at shutdown and waits for them to end', async () => {
    registry.onModuleInit();
    registry.ensure(registration(1), {});
    registry.ensure(registration(2), {});
    await flush();
    opened(streams[0]);
    opened(streams[1]);
    let done = false;
    const shutdown = registry.onModuleDestroy().then(() => (done = true));
    expect(calls).toEqual(['close 1 1001', 'close 2 1001']);
    ended(streams[0], { deliberate: true, opened: true, reason: 'closed', code: 1001 });
    await flush();
    expect(done).toBe(false);
    ended(streams[1], { deliberate: true, opened: true, reason: 'closed', code: 1001 });
    await shutdown;
    expect(metrics.gauge).toBe(0);
    expect(streams.every((s) => s.terminate.mock.calls.length === 0)).toBe(true);
    registry.ensure(registration(3), {});
    expect(registry.size).toBe(0);
  });

  it('relays frames that arrive on a stream while it closes at shutdown', async () => {
    registry.onModuleInit();
    registry.ensure(registration(1), {});
    await flush();
    opened(streams[0]);
    const shutdown = registry.onModuleDestroy();
    const frame = Buffer.from('{"event":"notification","payload":"{}"}');
    registry.streamMessage(streams[0] as unknown as MastodonStream<StreamEntry>, frame, false);
    expect(route).toHaveBeenCalledTimes(1);
    expect(route.mock.calls[0][1]).toBe(frame);
    ended(streams[0], { deliberate: true, opened: true, reason: 'closed', code: 1001 });
    await shutdown;
    // once the socket has ended, nothing more of it is taken
    registry.streamMessage(streams[0] as unknown as MastodonStream<StreamEntry>, frame, false);
    expect(route).toHaveBeenCalledTimes(1);
  });

  it('ignores what a superseded stream reports', async () => {
    registry.ensure(registration(1), {});
    await flush();
    registry.ensure(registration(1, { accessToken: 'new' }), {});
    await flush();
    ended(streams[0], { reason: 'unauthorized', status: 401 });
    expect(remove).not.toHaveBeenCalled();
    expect(metrics.failures).toEqual([]);
    expect(registry.has(1)).toBe(true);
  });
});
