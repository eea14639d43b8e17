import { randomBytes } from 'node:crypto';
import {
  ClusterReportRepository,
  DELIVERIES_TABLE,
  LISTENER_NODES_TABLE,
  ListenerNodeEntity,
  ListenerNodeRepository,
  listenerAsJson,
  PendingDeliveryEntity,
  PendingDeliveryRepository,
  RegistrationEntity,
  RegistrationKey,
  REGISTRATIONS_TABLE,
  RegistrationStateRepository,
  RegistrationWrite,
} from '@app/database';
import { hashSecret } from '@app/security';
import {
  INSTANCE_URL,
  registrationsOnDatabase,
  RegistrationsOnDatabase,
} from './registrations-on-database';

const T = 1_700_000_000_000;
const TIMEOUT = 30_000;

/** The operator's view of the cluster (admin `list`, `show`, `stats`, the status page), read from the real database of the run. */
describe('cluster report (real database)', () => {
  let on: RegistrationsOnDatabase;
  let states: RegistrationStateRepository;
  let deliveries: PendingDeliveryRepository;
  let nodes: ListenerNodeRepository;
  let report: ClusterReportRepository;

  beforeAll(async () => {
    on = await registrationsOnDatabase(randomBytes(32));
    const source = on.db.dataSource;
    const rows = source.getRepository(RegistrationEntity);
    states = new RegistrationStateRepository(rows);
    deliveries = new PendingDeliveryRepository(source.getRepository(PendingDeliveryEntity));
    nodes = new ListenerNodeRepository(source.getRepository(ListenerNodeEntity));
    report = new ClusterReportRepository(rows, source.getRepository(PendingDeliveryEntity), nodes);
  });

  beforeEach(async () => {
    for (const table of [DELIVERIES_TABLE, REGISTRATIONS_TABLE, LISTENER_NODES_TABLE]) {
      await on.db.query(`DELETE FROM ${table}`);
    }
  });

  afterAll(async () => {
    await on?.db.drop();
  });

  /** Registers `tag` (on INSTANCE_URL and app `app` unless `key` says otherwise); returns its id. */
  async function register(
    tag: string,
    key: Partial<RegistrationKey> = {},
    change: Partial<RegistrationWrite> = {},
  ): Promise<number> {
    const full = { instanceUrl: INSTANCE_URL, appId: 'app', tag, ...key };
    await on.registrations.upsert({
      ...full,
      accessToken: `token-${tag}`,
      appSecretHash: hashSecret('secret'),
      callbackUrl: `https://cb.example/${tag}`,
      endpoint: null,
      lastUpdate: T,
      ...change,
    });
    return (await on.registrations.findByKey(full))!.id;
  }

  async function removed(id: number, reason: 'revoked' | 'expired', since = T): Promise<void> {
    expect(await states.markRemoved(id, T, reason, since, undefined)).toBe(true);
  }

  /** Stores a state this version does not know (written by a newer listener). */
  async function storeState(id: number, state: string): Promise<void> {
    await on.db.query(`UPDATE ${REGISTRATIONS_TABLE} SET state = ? WHERE id = ?`, [state, id]);
  }

  async function queue(registrationId: number, receivedAt: number, count = 1): Promise<void> {
    await deliveries.append(
      Array.from({ length: count }, (_, i) => ({
        registrationId,
        webhookId: `wh-${registrationId}-${receivedAt}-${i}`,
        event: 'notification',
        body: '{}',
        attempts: 0,
        receivedAt: receivedAt + i,
        nextAttemptAt: receivedAt + i,
        deadlineAt: receivedAt + 86_400_000,
      })),
    );
  }

  it('reports an empty cluster as nothing at all', async () => {
    expect(await report.countRegistrations()).toBe(0);
    expect(await report.countByState()).toEqual([]);
    expect(await report.countByApp()).toEqual([]);
    expect(await report.countByInstanceAndState()).toEqual([]);
    expect(await report.countRemovedByReason()).toEqual([]);
    expect(await report.findFailingStreams(20)).toEqual([]);
    expect(await report.findFailing(20)).toEqual([]);
    expect(await report.findListeners(T, TIMEOUT)).toEqual([]);
    expect(await report.findSummaries()).toEqual([]);
    expect(await report.retryQueue()).toEqual({
      depth: 0,
      registrations: 0,
      oldestReceivedAt: null,
    });
  });

  it('counts registrations per state in lifecycle order: pending for none recorded, a state it does not know last', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 9; i++) ids.push(await register(`s${i}`));
    await storeState(ids[0], 'archived');
    await removed(ids[1], 'revoked');
    await states.writeStates(
      [
        { id: ids[2], state: 'unauthorized', since: T },
        { id: ids[3], state: 'retrying', since: T },
        { id: ids[4], state: 'streaming', since: T },
        { id: ids[5], state: 'streaming', since: T },
        { id: ids[6], state: 'connecting', since: T },
      ],
      'node-a',
    );
    expect(await report.countRegistrations()).toBe(9);
    expect(await report.countByState()).toEqual([
      { key: 'pending', count: 2 },
      { key: 'connecting', count: 1 },
      { key: 'streaming', count: 2 },
      { key: 'retrying', count: 1 },
      { key: 'unauthorized', count: 1 },
      { key: 'removed', count: 1 },
      { key: 'archived', count: 1 },
    ]);
  });

  it('counts per instance, in code-point order, with a total and the states in lifecycle order', async () => {
    const lower = { instanceUrl: 'https://a.example' };
    const upper = { instanceUrl: 'https://B.example' };
    const a = [
      await register('a0', lower),
      await register('a1', lower),
      await register('a2', lower),
    ];
    const b = [await register('b0', upper), await register('b1', upper)];
    await removed(a[0], 'expired');
    await storeState(a[1], 'archived');
    await states.writeStates(
      [
        { id: b[0], state: 'retrying', since: T },
        { id: b[1], state: 'retrying', since: T },
      ],
      'node-a',
    );
    expect(await report.countByInstanceAndState()).toEqual([
      { instanceUrl: 'https://B.example', total: 2, byState: { retrying: 2 } },
      {
        instanceUrl: 'https://a.example',
        total: 3,
        byState: { pending: 1, removed: 1, archived: 1 },
      },
    ]);
    expect(Object.keys((await report.countByInstanceAndState())[1].byState)).toEqual([
      'pending',
      'removed',
      'archived',
    ]);
  });

  it('counts per app in code-point order, whatever the collation', async () => {
    for (const [tag, appId] of [
      ['p0', 'appa'],
      ['p1', 'app_b'],
      ['p2', 'Zed'],
      ['p3', 'appa'],
      ['p4', 'apps'],
    ]) {
      await register(tag, { appId });
    }
    expect(await report.countByApp()).toEqual([
      { key: 'Zed', count: 1 },
      { key: 'app_b', count: 1 },
      { key: 'appa', count: 2 },
      { key: 'apps', count: 1 },
    ]);
  });

  it('counts the removed registrations kept, by reason (unknown when none was stored)', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) ids.push(await register(`r${i}`));
    await removed(ids[0], 'revoked');
    await removed(ids[1], 'revoked');
    await removed(ids[2], 'expired');
    await storeState(ids[3], 'removed');
    // a reason this version does not know (written by a newer listener)
    await removed(ids[4], 'expired');
    await on.db.query(
      `UPDATE ${REGISTRATIONS_TABLE} SET "removalReason" = 'withdrawn' WHERE id = ?`,
      [ids[4]],
    );
    await states.writeStates([{ id: ids[5], state: 'streaming', since: T }], 'node-a');
    expect(await report.countRemovedByReason()).toEqual([
      { key: 'expired', count: 1 },
      { key: 'revoked', count: 2 },
      { key: 'unknown', count: 1 },
      { key: 'withdrawn', count: 1 },
    ]);
  });

  it('lists the failing streams longest in that state first, then by id, up to the limit', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) ids.push(await register(`f${i}`, { appId: `app-${i}` }));
    await states.writeStates(
      [
        { id: ids[0], state: 'retrying', since: T + 30, lastError: 'connection reset' },
        { id: ids[1], state: 'streaming', since: T },
        { id: ids[2], state: 'unauthorized', since: T + 20, lastError: '401 from the instance' },
        { id: ids[3], state: 'retrying', since: T + 10, lastError: 'timeout' },
      ],
      'node-a',
    );
    await states.writeStates([{ id: ids[4], state: 'retrying', since: T + 20 }], 'node-b');
    await removed(ids[5], 'revoked', T);
    const failing = (
      i: number,
      state: string,
      since: number,
      lastError: string | null,
      heldBy: string,
    ) => ({
      id: ids[i],
      instanceUrl: INSTANCE_URL,
      appId: `app-${i}`,
      tag: `f${i}`,
      state,
      stateSince: since,
      lastError,
      heldBy,
    });
    const all = [
      failing(3, 'retrying', T + 10, 'timeout', 'node-a'),
      failing(2, 'unauthorized', T + 20, '401 from the instance', 'node-a'),
      failing(4, 'retrying', T + 20, null, 'node-b'),
      failing(0, 'retrying', T + 30, 'connection reset', 'node-a'),
    ];
    expect(await report.findFailingStreams(20)).toEqual(all);
    expect(await report.findFailingStreams(2)).toEqual(all.slice(0, 2));
  });

  it('lists the listeners by id with their liveness; JSON gives times as ISO text and a heartbeat age', async () => {
    const node = { startedAt: T - 60_000, leaving: 0, view: 'v', streamsOpen: 0 };
    await nodes.heartbeat({ ...node, id: 'node-b', heartbeatAt: T - 1_000, streamsOpen: 7 });
    await nodes.heartbeat({ ...node, id: 'node-a', heartbeatAt: T - 2_000, leaving: 1 });
    await nodes.heartbeat({ ...node, id: 'Node-c', heartbeatAt: T - TIMEOUT - 1 });
    const listeners = await report.findListeners(T, TIMEOUT);
    expect(listeners).toEqual([
      {
        id: 'Node-c',
        startedAt: T - 60_000,
        heartbeatAt: T - TIMEOUT - 1,
        streamsOpen: 0,
        liveness: 'dead',
      },
      {
        id: 'node-a',
        startedAt: T - 60_000,
        heartbeatAt: T - 2_000,
        streamsOpen: 0,
        liveness: 'leaving',
      },
      {
        id: 'node-b',
        startedAt: T - 60_000,
        heartbeatAt: T - 1_000,
        streamsOpen: 7,
        liveness: 'alive',
      },
    ]);
    expect(listenerAsJson(listeners[2], T + 1_600)).toEqual({
      id: 'node-b',
      liveness: 'alive',
      heartbeatAt: new Date(T - 1_000).toISOString(),
      heartbeatAgeSeconds: 3,
      streamsOpen: 7,
      startedAt: new Date(T - 60_000).toISOString(),
    });
    // a heartbeat ahead of the reader's clock is not a negative age
    expect(listenerAsJson(listeners[2], T - 5_000).heartbeatAgeSeconds).toBe(0);
  });

  it('sums the retry queue up: events waiting, registrations they wait for, when the oldest arrived', async () => {
    const one = await register('q1');
    const two = await register('q2');
    await register('q3');
    await queue(one, T + 50, 2);
    await queue(two, T + 5);
    await queue(two, T + 80);
    expect(await report.retryQueue()).toEqual({
      depth: 4,
      registrations: 2,
      oldestReceivedAt: T + 5,
    });
  });

  it('lists failing callbacks oldest backlog first, up to the limit, with the attempts and error of their head', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push(await register(`c${i}`, { appId: `app-${i}` }));
    await queue(ids[0], T + 300, 3);
    await queue(ids[1], T + 100, 2);
    await queue(ids[2], T + 200);
    const [head1, second1] = await deliveries.findFirst(ids[1], 2);
    await deliveries.recordFailure(head1.id, 4, T + 9_000, 'HTTP 503');
    await deliveries.recordFailure(second1.id, 1, T + 1_000, 'HTTP 500');
    const [head0] = await deliveries.findFirst(ids[0], 1);
    await deliveries.recordFailure(head0.id, 2, T + 7_000, 'timeout');
    const callback = (i: number, pendingDeliveries: number, oldestReceivedAt: number) => ({
      id: ids[i],
      instanceUrl: INSTANCE_URL,
      appId: `app-${i}`,
      tag: `c${i}`,
      pendingDeliveries,
      oldestReceivedAt,
    });
    const all = [
      { ...callback(1, 2, T + 100), attempts: 4, lastError: 'HTTP 503', nextAttemptAt: T + 9_000 },
      { ...callback(2, 1, T + 200), attempts: 0, lastError: null, nextAttemptAt: T + 200 },
      { ...callback(0, 3, T + 300), attempts: 2, lastError: 'timeout', nextAttemptAt: T + 7_000 },
    ];
    expect(await report.findFailing(20)).toEqual(all);
    expect(await report.findFailing(2)).toEqual(all.slice(0, 2));
  });

  it('summarises registrations in id order with their state and callbacks waiting, never their token', async () => {
    const first = await register(
      'sum-1',
      {},
      { callbackUrl: 'https://cb.example/hook?secret=abc', endpoint: 'direct' },
    );
    const second = await register('sum-2');
    await on.withKey(undefined).upsert({
      instanceUrl: INSTANCE_URL,
      appId: 'app',
      tag: 'sum-3',
      accessToken: 'token-plain',
      appSecretHash: hashSecret('secret'),
      callbackUrl: 'https://cb.example/plain',
      endpoint: null,
      lastUpdate: T + 3,
    });
    // renewing the first moves its row on disk: the order is asked for, not found
    await register(
      'sum-1',
      {},
      { callbackUrl: 'https://cb.example/hook?secret=abc', endpoint: 'direct', lastUpdate: T + 1 },
    );
    await states.writeStates(
      [{ id: second, state: 'retrying', since: T + 2, lastError: 'reset', endpointInUse: 'user' }],
      'node-a',
    );
    await states.writeRelayedAt([{ id: second, at: T + 4 }]);
    await queue(second, T, 3);
    await queue(first, T);

    const summaries = await report.findSummaries();
    expect(summaries.map((s) => s.tag)).toEqual(['sum-1', 'sum-2', 'sum-3']);
    expect(summaries[0]).toEqual({
      id: first,
      instanceUrl: INSTANCE_URL,
      appId: 'app',
      tag: 'sum-1',
      callbackUrl: 'https://cb.example/hook',
      endpoint: 'direct',
      lastUpdate: T + 1,
      createdAt: expect.any(Date),
      tokenSealed: true,
      pendingDeliveries: 1,
      state: 'pending',
      stateSince: null,
      lastError: null,
      lastRelayedAt: null,
      heldBy: null,
      endpointInUse: null,
      removalReason: null,
    });
    expect(summaries[1]).toMatchObject({
      id: second,
      pendingDeliveries: 3,
      state: 'retrying',
      stateSince: T + 2,
      lastError: 'reset',
      lastRelayedAt: T + 4,
      heldBy: 'node-a',
      endpointInUse: 'user',
    });
    expect(summaries[2]).toMatchObject({
      tokenSealed: false,
      pendingDeliveries: 0,
      lastUpdate: T + 3,
    });
    expect(JSON.stringify(summaries)).not.toContain('token-');
  });

  it('filters summaries by instance, app and state; pending finds the rows no listener recorded', async () => {
    const other = { instanceUrl: 'https://other.example' };
    const plain = await register('plain');
    const otherApp = await register('other-app', { appId: 'other' });
    const otherInstance = await register('other-instance', other);
    const streaming = await register('streaming', other);
    const gone = await register('gone');
    await states.writeStates([{ id: streaming, state: 'streaming', since: T }], 'node-a');
    await removed(gone, 'revoked');
    const idsOf = async (filter: Parameters<ClusterReportRepository['findSummaries']>[0]) =>
      (await report.findSummaries(filter)).map((s) => s.id);

    expect(await idsOf({})).toEqual([plain, otherApp, otherInstance, streaming, gone]);
    expect(await idsOf({ instanceUrl: 'https://other.example' })).toEqual([
      otherInstance,
      streaming,
    ]);
    expect(await idsOf({ appId: 'other' })).toEqual([otherApp]);
    expect(await idsOf({ state: 'pending' })).toEqual([plain, otherApp, otherInstance]);
    expect(await idsOf({ state: 'streaming' })).toEqual([streaming]);
    expect(await idsOf({ instanceUrl: INSTANCE_URL, appId: 'app', state: 'pending' })).toEqual([
      plain,
    ]);
    expect(await idsOf({ state: 'removed' })).toEqual([gone]);
    expect((await report.findSummaries({ state: 'removed' }))[0].removalReason).toBe('revoked');
  });

  it('finds one summary by id or by key; none for an id or key it does not hold', async () => {
    await register('one');
    const two = await register('two', { appId: 'other' });
    expect((await report.findSummaryById(two))?.tag).toBe('two');
    expect(await report.findSummaryById(two + 100)).toBeUndefined();
    expect(await report.findSummaryById(2 ** 53)).toBeUndefined();
    expect(await report.findSummaryById(1.5)).toBeUndefined();
    expect(
      (await report.findSummaryByKey({ instanceUrl: INSTANCE_URL, appId: 'other', tag: 'two' }))
        ?.id,
    ).toBe(two);
    expect(
      await report.findSummaryByKey({ instanceUrl: INSTANCE_URL, appId: 'app', tag: 'two' }),
    ).toBeUndefined();
  });
});
