import { SchedulerRegistry } from '@nestjs/schedule';
import { CallbackDispatcher } from '@app/callback';
import { AppConfigService, ConfigMaps, InstanceAccess, Settings } from '@app/config';
import { Registration, RegistrationRepository } from '@app/database';
import { strictStub } from '../../../../test/support/strict-stub';
import { hashSecret } from '@app/security';
import { RegistrationRemovalService } from '../lifecycle/registration-removal.service';
import { ListenerMetrics } from '../listener.metrics';
import { soleMemberStub } from '../membership/membership.mock';
import type { MembershipService } from '../membership/membership.service';
import { StreamRegistryService } from '../streams/stream-registry.service';
import { WebPushRegistryService } from '../webpush/web-push-registry.service';
import { CHANGE_OVERLAP_MS, RECONCILE_INTERVAL_NAME, ReconcileService } from './reconcile.service';

const HOUR = 3_600_000;
const settings = {
  registrationTtlHours: 72,
  listener: { pollIntervalMs: 200, fullResyncIntervalMs: 60_000 },
  callback: { timeoutMs: 10_000 },
  webPush: { publicUrl: undefined },
} as Settings;

function row(id: number, lastUpdate: number, overrides: Partial<Registration> = {}): Registration {
  return {
    id,
    lastUpdate,
    instanceUrl: 'https://m.example',
    appId: 'app',
    tag: `t${id}`,
    accessToken: `token-${id}`,
    appSecretHash: hashSecret('secret'),
    callbackUrl: 'https://cb.example/x',
    endpoint: null,
    ...overrides,
  };
}

describe('ReconcileService', () => {
  const NOW = 1_700_000_000_000;
  let calls: string[];
  /** Registrations handed to webPush.dropLeftOver: taken up here by their stream. */
  let leftOverChecks: number[];
  let repo: {
    findExpiredIds: jest.Mock;
    findAll: jest.Mock;
    findStampsSince: jest.Mock;
    findByIds: jest.Mock;
    countAll: jest.Mock;
    findAllIds: jest.Mock;
    findCursors: jest.Mock;
  };
  let streams: {
    ensure: jest.Mock;
    stop: jest.Mock;
    has: jest.Mock;
    refreshLimits: jest.Mock;
    closed: jest.Mock;
    opening: jest.Mock;
    size: number;
    openCount: number;
  };
  let open: Set<number>;
  let maps: ConfigMaps;
  let apps: Record<string, { secret: string }>;
  let instanceAllowed: boolean;
  let reloadListener: (() => void) | undefined;
  let goneListener: ((id: number) => void) | undefined;
  let scheduler: { addInterval: jest.Mock; deleteInterval: jest.Mock; doesExist: jest.Mock };
  let lastSuccess: number | undefined;
  let service: ReconcileService;
  let membership: MembershipService;

  beforeEach(() => {
    membership = soleMemberStub();
    jest.useFakeTimers({ now: NOW });
    calls = [];
    leftOverChecks = [];
    open = new Set();
    apps = { app: { secret: 'secret' } };
    instanceAllowed = true;
    maps = { apps, instances: {}, files: { apps: '', instances: '' }, warnings: [] };
    const log =
      (name: string, result?: (...args: never[]) => unknown) =>
      (...args: unknown[]) => {
        calls.push(
          `${name}(${args.map((a) => (typeof a === 'number' ? String(a) : JSON.stringify(a))).join(', ')})`,
        );
        return result?.(...(args as never[]));
      };
    repo = {
      findExpiredIds: jest.fn().mockResolvedValue([]),
      findAll: jest.fn().mockResolvedValue([]),
      findStampsSince: jest.fn().mockResolvedValue([]),
      findByIds: jest.fn().mockResolvedValue([]),
      countAll: jest.fn().mockResolvedValue(0),
      findAllIds: jest.fn().mockResolvedValue([]),
      findCursors: jest.fn().mockResolvedValue(new Map()),
    };
    const loggedRepo = Object.fromEntries(
      Object.entries(repo).map(([name, fn]) => [
        name,
        (...args: never[]) => log(name, fn)(...args),
      ]),
    );
    streams = {
      ensure: jest.fn((registration: Registration) => {
        calls.push(`ensure(${registration.id}, ${registration.accessToken})`);
        open.add(registration.id);
      }),
      stop: jest.fn((id: number, why: string, options: { forget: boolean; quiet?: boolean }) => {
        calls.push(`stop(${id}, ${why}, forget=${options.forget})`);
        return open.delete(id);
      }),
      has: jest.fn((id: number) => open.has(id)),
      refreshLimits: jest.fn(() => calls.push('refreshLimits')),
      closed: jest.fn(() => Promise.resolve()),
      opening: jest.fn(() => Promise.resolve()),
      get size() {
        return open.size;
      },
      get openCount() {
        return open.size;
      },
    };
    scheduler = {
      addInterval: jest.fn(log('addInterval')),
      deleteInterval: jest.fn(log('deleteInterval')),
      doesExist: jest.fn(() => true),
    };
    const config = strictStub<AppConfigService>('AppConfigService', {
      get maps() {
        return maps;
      },
      findApp: (appId: string) => apps[appId],
      instanceAccess: (): InstanceAccess =>
        instanceAllowed
          ? { allowed: true, entry: {}, exact: true }
          : { allowed: false, reason: 'instance is not configured in instance_map' },
      onReload: (listener: (maps: ConfigMaps) => void) => {
        reloadListener = () => listener(maps);
        return () => (reloadListener = undefined);
      },
    });
    lastSuccess = undefined;
    service = new ReconcileService(
      strictStub<RegistrationRepository>('RegistrationRepository', loggedRepo),
      strictStub<StreamRegistryService>('StreamRegistryService', streams),
      config,
      strictStub<CallbackDispatcher>('CallbackDispatcher', {
        useOwnership: () => undefined,
        onRegistrationGone: (listener: (id: number) => void) => {
          goneListener = listener;
          return () => (goneListener = undefined);
        },
      }),
      strictStub<SchedulerRegistry>('SchedulerRegistry', scheduler),
      strictStub<ListenerMetrics>('ListenerMetrics', {
        reconcileDuration: { startTimer: () => () => 0 } as never,
        reconcileLastSuccess: { set: (value: number) => (lastSuccess = value) } as never,
      }),
      membership,
      strictStub<RegistrationRemovalService>('RegistrationRemovalService', {
        remove: (registration: Registration, reason: string, detail: string) => {
          calls.push(`remove(${registration.id}, ${reason}, ${detail})`);
          return Promise.resolve(true);
        },
        expire: (ids: number[], before: number) => {
          calls.push(`expire(${JSON.stringify(ids)}, ${before})`);
          return Promise.resolve(ids);
        },
        gone: (registration: Registration) => {
          calls.push(`gone(${registration.id})`);
          return Promise.resolve(true);
        },
        purge: (now?: number) => {
          calls.push(`purge(${now})`);
          return Promise.resolve();
        },
      }),
      settings,
      strictStub<WebPushRegistryService>('WebPushRegistryService', {
        has: () => false,
        stop: () => false,
        dropLeftOver: (row: Registration) => void leftOverChecks.push(row.id),
      }),
    );
    for (const level of ['log', 'debug', 'error'] as const) {
      jest
        .spyOn((service as unknown as { logger: Record<string, () => void> }).logger, level)
        .mockImplementation(() => undefined);
    }
  });

  afterEach(() => {
    service.onModuleDestroy();
    jest.useRealTimers();
  });

  it('starts with a full read that opens every allowed row, then reads only changes since the previous pass minus the overlap', async () => {
    repo.findAll.mockResolvedValueOnce([row(1, NOW - 10_000), row(2, NOW - 5_000)]);
    await service.runPass();
    expect(calls).toEqual([
      `findExpiredIds(${NOW - 72 * HOUR})`,
      `purge(${NOW})`,
      'findAll()',
      'ensure(1, token-1)',
      'ensure(2, token-2)',
    ]);
    expect(lastSuccess).toBe(NOW / 1000);
    // each stream taken up here is looked up once for a push subscription left behind
    expect(leftOverChecks).toEqual([1, 2]);

    calls = [];
    jest.setSystemTime(NOW + 1_000);
    repo.findStampsSince.mockResolvedValueOnce([
      { id: 1, lastUpdate: NOW - 10_000 },
      { id: 2, lastUpdate: NOW - 4_000 },
      { id: 3, lastUpdate: NOW + 100 },
    ]);
    repo.findByIds.mockResolvedValueOnce([
      row(2, NOW - 4_000, { accessToken: 'renewed' }),
      row(3, NOW + 100),
    ]);
    repo.countAll.mockResolvedValueOnce(3);
    await service.runPass();
    // row 1 has the stamp it was read with and its stream is open: not read again
    expect(calls).toEqual([
      `findExpiredIds(${NOW + 1_000 - 72 * HOUR})`,
      `findStampsSince(${NOW - CHANGE_OVERLAP_MS})`,
      'findByIds([2,3])',
      'ensure(2, renewed)',
      'ensure(3, token-3)',
      'countAll()',
    ]);
    // 2 was renewed with its stream open: only 3 is new here
    expect(leftOverChecks).toEqual([1, 2, 3]);

    calls = [];
    jest.setSystemTime(NOW + 2_000);
    await service.runPass();
    // the window follows the passes, not the rows' stamps: old rows stop being re-read
    expect(calls[1]).toBe(`findStampsSince(${NOW + 1_000 - CHANGE_OVERLAP_MS})`);
  });

  it('reads no whole row when every stamp in the window is the one last read', async () => {
    repo.findAll.mockResolvedValueOnce([row(1, NOW - 2_000), row(2, NOW - 1_000)]);
    await service.runPass();
    calls = [];
    repo.findStampsSince.mockResolvedValueOnce([
      { id: 1, lastUpdate: NOW - 2_000 },
      { id: 2, lastUpdate: NOW - 1_000 },
    ]);
    repo.countAll.mockResolvedValueOnce(2);
    await service.runPass();
    expect(calls).toEqual([
      `findExpiredIds(${NOW - 72 * HOUR})`,
      `findStampsSince(${NOW - CHANGE_OVERLAP_MS})`,
      'countAll()',
    ]);
  });

  it('keeps the window at the last successful pass when a pass fails', async () => {
    repo.findAll.mockResolvedValueOnce([row(1, NOW)]);
    await service.runPass();
    jest.setSystemTime(NOW + 1_000);
    repo.findStampsSince.mockRejectedValueOnce(new Error('database unreachable'));
    await service.runPass();
    calls = [];
    jest.setSystemTime(NOW + 2_000);
    await service.runPass();
    expect(calls[1]).toBe(`findStampsSince(${NOW - CHANGE_OVERLAP_MS})`);
  });

  it('reopens a renewed row with its new token', async () => {
    repo.findAll.mockResolvedValueOnce([row(1, NOW - 10_000)]);
    await service.runPass();
    calls = [];
    repo.findStampsSince.mockResolvedValueOnce([{ id: 1, lastUpdate: NOW }]);
    repo.findByIds.mockResolvedValueOnce([row(1, NOW, { accessToken: 'renewed' })]);
    repo.countAll.mockResolvedValueOnce(1);
    await service.runPass();
    expect(calls).toContain('ensure(1, renewed)');
  });

  it('finds deleted rows cheaply: ids are fetched only when the count differs', async () => {
    repo.findAll.mockResolvedValueOnce([row(1, NOW), row(2, NOW), row(3, NOW)]);
    await service.runPass();
    calls = [];
    repo.countAll.mockResolvedValueOnce(2);
    repo.findAllIds.mockResolvedValueOnce([1, 3]);
    await service.runPass();
    expect(calls.slice(2)).toEqual([
      'countAll()',
      'findAllIds()',
      'stop(2, registration removed, forget=true)',
    ]);

    calls = [];
    repo.countAll.mockResolvedValueOnce(2);
    await service.runPass();
    expect(calls).not.toContain('findAllIds()');
  });

  it('closes expired rows, then ends them as expired (the removal keeps rows renewed meanwhile)', async () => {
    repo.findAll.mockResolvedValueOnce([row(1, NOW - 73 * HOUR)]);
    await service.runPass();
    calls = [];
    repo.findExpiredIds.mockResolvedValueOnce([1]);
    repo.countAll.mockResolvedValueOnce(0);
    await service.runPass();
    expect(calls.slice(0, 3)).toEqual([
      `findExpiredIds(${NOW - 72 * HOUR})`,
      'stop(1, not renewed within 72 h, forget=true)',
      `expire([1], ${NOW - 72 * HOUR})`,
    ]);
  });

  it('expires only the registrations this listener owns (another listener ends the rest)', async () => {
    membership.owns = (id: number) => id !== 2;
    repo.findExpiredIds.mockResolvedValueOnce([1, 2, 3]);
    repo.countAll.mockResolvedValueOnce(0);
    await service.runPass();
    expect(calls).toContain(`expire([1,3], ${NOW - 72 * HOUR})`);
    expect(calls).not.toContain('stop(2, not renewed within 72 h, forget=true)');
  });

  it('takes over a registration from the cursor stored now, not from the one in the row it read before', async () => {
    // another listener owns 2 at first; this one read its row before that one relayed anything
    let others = true;
    membership.owns = (id: number) => id !== 2 || !others;
    repo.findAll.mockResolvedValueOnce([row(1, NOW, { lastNotificationId: '5' }), row(2, NOW, { lastNotificationId: null })]);
    await service.runPass();
    expect(streams.ensure.mock.calls.map(([r]: [Registration]) => r.id)).toEqual([1]);
    // the other listener is gone: 2 comes here, with the cursor that listener stored meanwhile
    others = false;
    membership.refresh = () => Promise.resolve({ changed: true, agreedNow: false });
    repo.countAll.mockResolvedValueOnce(2);
    repo.findCursors.mockResolvedValueOnce(new Map([[2, '41']]));
    jest.setSystemTime(NOW + 1_000);
    await service.runPass();
    expect(calls).toContain('findCursors([2])');
    const [taken] = streams.ensure.mock.calls.filter(([r]: [Registration]) => r.id === 2);
    expect((taken as [Registration])[0].lastNotificationId).toBe('41');
  });

  it('ends the registrations the config no longer allows, closing their streams first', async () => {
    apps.app = { secret: 'rotated' };
    repo.findAll.mockResolvedValueOnce([row(1, NOW), row(2, NOW, { appId: 'gone' })]);
    await service.runPass();
    expect(calls).toEqual([
      `findExpiredIds(${NOW - 72 * HOUR})`,
      `purge(${NOW})`,
      'findAll()',
      'stop(1, app secret changed since the registration, forget=true)',
      'remove(1, config, app secret changed since the registration)',
      'stop(2, app is no longer in app_map, forget=true)',
      'remove(2, config, app is no longer in app_map)',
    ]);
  });

  it('opens nothing for a removed row, and opens it again once registered again', async () => {
    repo.findAll.mockResolvedValueOnce([row(1, NOW, { removed: true })]);
    await service.runPass();
    expect(calls).toContain('stop(1, registration removed, forget=false)');
    expect(streams.ensure).not.toHaveBeenCalled();
    repo.findStampsSince.mockResolvedValueOnce([{ id: 1, lastUpdate: NOW + 1 }]);
    repo.findByIds.mockResolvedValueOnce([row(1, NOW + 1)]);
    repo.countAll.mockResolvedValueOnce(1);
    await service.runPass();
    expect(streams.ensure).toHaveBeenCalledTimes(1);
  });

  it('re-evaluates every known row as soon as the config is reloaded', async () => {
    service.onApplicationBootstrap();
    repo.findAll.mockResolvedValueOnce([row(1, NOW), row(2, NOW)]);
    await service.runPass();
    calls = [];
    instanceAllowed = false;
    maps = { ...maps };
    reloadListener!();
    expect(calls).toEqual([
      'stop(1, instance is not configured in instance_map, forget=true)',
      'remove(1, config, instance is not configured in instance_map)',
      'stop(2, instance is not configured in instance_map, forget=true)',
      'remove(2, config, instance is not configured in instance_map)',
      'refreshLimits',
    ]);
    // they ended: allowing them again opens nothing until their app server registers them again
    calls = [];
    instanceAllowed = true;
    reloadListener!();
    expect(calls).toEqual([
      'stop(1, registration removed, forget=false)',
      'stop(2, registration removed, forget=false)',
      'refreshLimits',
    ]);
  });

  it('registers its interval at bootstrap, never overlaps passes, and removes the interval on shutdown', async () => {
    let release!: (rows: Registration[]) => void;
    repo.findAll.mockImplementationOnce(() => new Promise((resolve) => (release = resolve)));
    service.onApplicationBootstrap();
    expect(scheduler.addInterval).toHaveBeenCalledWith(RECONCILE_INTERVAL_NAME, expect.anything());
    for (let i = 0; i < 10; i++) await Promise.resolve();
    // five ticks while the first pass waits for the database: none starts another pass
    jest.advanceTimersByTime(1_000);
    expect(repo.findExpiredIds).toHaveBeenCalledTimes(1);
    release([]);
    await service.runPass();
    jest.advanceTimersByTime(200);
    // the pass reads the membership before the registrations
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(repo.findExpiredIds).toHaveBeenCalledTimes(2);
    service.onModuleDestroy();
    expect(scheduler.deleteInterval).toHaveBeenCalledWith(RECONCILE_INTERVAL_NAME);
    for (const [, timer] of scheduler.addInterval.mock.calls)
      clearInterval(timer as NodeJS.Timeout);
  });

  it('stops the stream of a registration whose callback answered 410 and ends it once', async () => {
    service.onApplicationBootstrap();
    repo.findAll.mockResolvedValueOnce([row(5, NOW)]);
    await service.runPass();
    calls = [];
    goneListener!(5);
    // a second notice (another event's answer) ends nothing twice
    goneListener!(5);
    expect(calls).toEqual([
      'stop(5, the callback answered 410 Gone, forget=true)',
      'gone(5)',
      'stop(5, the callback answered 410 Gone, forget=true)',
    ]);
    for (const [, timer] of scheduler.addInterval.mock.calls)
      clearInterval(timer as NodeJS.Timeout);
  });

  it('keeps the last success time when a pass fails', async () => {
    await service.runPass();
    expect(service.lastSuccessAt).toBe(NOW);
    jest.setSystemTime(NOW + 5_000);
    repo.findExpiredIds.mockRejectedValueOnce(new Error('database down'));
    await service.runPass();
    expect(service.lastSuccessAt).toBe(NOW);
    expect(service.successAgeMs(NOW + 5_000)).toBe(5_000);
  });
});
