import { Settings } from '@app/config';
import { RelayEvent } from '@app/callback';
import { ReceivedPush, ReceivedPushRepository, Registration } from '@app/database';
import { MastodonPushClient } from '@app/mastodon';
import { MetricsService } from '@app/observability';
import { strictStub } from '../../../../test/support/strict-stub';
import { CatchUpService } from '../catch-up/catch-up.service';
import { RegistrationStateRecorder } from '../lifecycle/registration-state.recorder';
import { MembershipService } from '../membership/membership.service';
import { ReceivedPushRelayService } from './received-push-relay.service';
import { WebPushRegistryService } from './web-push-registry.service';

const settings = {
  webPush: { publicUrl: 'https://relay.example', pollIntervalMs: 60_000, retentionHours: 48 },
  listener: { pollIntervalMs: 1_000 },
} as unknown as Settings;

function registration(id: number): Registration {
  return {
    id,
    lastUpdate: 1,
    instanceUrl: 'https://m.example',
    appId: 'app',
    tag: `tag-${id}`,
    accessToken: 'tok_secret',
    appSecretHash: 'sha256:x',
    callbackUrl: 'https://cb.example/hook',
    endpoint: null,
    lastNotificationId: '1',
  };
}

/** The received pushes table, in memory: pending rows in id order. */
class PushTable {
  readonly rows: (ReceivedPush & { relayedAt: number | null })[] = [];
  add(registrationId: number, notificationId: string): void {
    const id = String(this.rows.length + 1);
    this.rows.push({ id, registrationId, notificationId, receivedAt: 0, relayedAt: null });
  }
  findPendingAfter(afterId: string, limit: number): Promise<ReceivedPush[]> {
    return Promise.resolve(
      this.rows
        .filter((row) => row.relayedAt === null && BigInt(row.id) > BigInt(afterId))
        .slice(0, limit)
        .map(({ id, registrationId, notificationId, receivedAt }) => ({
          id,
          registrationId,
          notificationId,
          receivedAt,
        })),
    );
  }
  markRelayed(ids: string[], at: number): Promise<void> {
    for (const row of this.rows) if (ids.includes(row.id)) row.relayedAt = at;
    return Promise.resolve();
  }
}

describe('ReceivedPushRelayService', () => {
  let table: PushTable;
  let relayed: RelayEvent[];
  /** Registrations this listener serves by Web Push; the others belong to another listener. */
  let mine: Set<number>;
  /** Registrations whose subscription is being made: their pushes wait. */
  let waiting: Set<number>;
  let service: ReceivedPushRelayService;

  beforeEach(() => {
    table = new PushTable();
    relayed = [];
    mine = new Set();
    waiting = new Set();
    service = new ReceivedPushRelayService(
      strictStub<ReceivedPushRepository>('ReceivedPushRepository', {
        findPendingAfter: (afterId, limit) => table.findPendingAfter(afterId, limit),
        markRelayed: (ids, at) => table.markRelayed(ids, at),
        purgeReceivedBefore: () => Promise.resolve(0),
      }),
      strictStub<WebPushRegistryService>('WebPushRegistryService', {
        subscribed: (id: number) =>
          mine.has(id) && !waiting.has(id)
            ? { registration: registration(id), instance: {} }
            : undefined,
        pending: (id: number) => waiting.has(id),
        has: (id: number) => mine.has(id),
        target: () => ({ base: 'https://m.example', guard: false, accessToken: 'tok_secret' }),
      }),
      strictStub<MastodonPushClient>('MastodonPushClient', {
        notification: (_target, id: string) => Promise.resolve(`{"id":"${id}"}`),
      }),
      strictStub<CatchUpService>('CatchUpService', {
        relay: (event: RelayEvent) => void relayed.push(event),
      }),
      strictStub<RegistrationStateRecorder>('RegistrationStateRecorder', {
        relayed: () => undefined,
      }),
      strictStub<MembershipService>('MembershipService', {
        owns: (id: number) => mine.has(id) || waiting.has(id),
      }),
      strictStub<MetricsService>('MetricsService', {
        counter: (() => ({ inc: () => undefined })) as never,
      }),
      settings,
    );
    for (const level of ['log', 'warn', 'error'] as const)
      jest
        .spyOn((service as unknown as { logger: Record<string, () => void> }).logger, level)
        .mockImplementation(() => undefined);
  });

  afterEach(() => service.onModuleDestroy());

  /** Polls until nothing more is relayed, with the straggler scan due at every poll. */
  async function pollRepeatedly(times: number): Promise<void> {
    for (let i = 0; i < times; i++) {
      (service as unknown as { lastStragglerScan: number }).lastStragglerScan = 0;
      await service.poll();
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  it('relays a push of its own in the order received, with the notification it fetched', async () => {
    mine.add(1);
    table.add(1, '10');
    table.add(1, '11');
    await pollRepeatedly(2);
    expect(relayed.map((event) => [event.registrationId, event.objectId, event.payload])).toEqual([
      [1, '10', '{"id":"10"}'],
      [1, '11', '{"id":"11"}'],
    ]);
    expect(table.rows.every((row) => row.relayedAt !== null)).toBe(true);
  });

  it('leaves the pushes of registrations another listener owns alone', async () => {
    mine.add(1);
    table.add(2, '20');
    table.add(1, '10');
    await pollRepeatedly(2);
    expect(relayed.map((event) => event.objectId)).toEqual(['10']);
    expect(table.rows.find((row) => row.registrationId === 2)?.relayedAt).toBeNull();
  });

  it('reaches a passed-by push behind more than one page of pushes it must leave pending', async () => {
    // 1,200 pushes of other listeners' registrations, older than the one waiting here
    for (let i = 0; i < 1_200; i++) table.add(1_000 + i, String(i));
    mine.add(1);
    waiting.add(1);
    table.add(1, '77');
    // the fresh reads pass everything by while its subscription is being made
    await pollRepeatedly(4);
    expect(relayed).toEqual([]);
    waiting.delete(1);
    // only the straggler scan can find it now; the pending rows before it fill two pages
    await pollRepeatedly(4);
    expect(relayed.map((event) => event.objectId)).toEqual(['77']);
  });
});
