import { parseSettings } from '@app/config';
import {
  RegistrationEntity,
  RegistrationRepository,
  RegistrationStateRepository,
  RegistrationWrite,
  StateWrite,
} from '@app/database';
import { hashSecret } from '@app/security';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const T = 1_700_000_000_000;
const INSTANCE_URL = 'https://states.example';

/** The listener's lifecycle writes and the api's /status read, against the real database of the run. */
describe('registration lifecycle columns (real database)', () => {
  let db: TestDatabase;
  let registrations: RegistrationRepository;
  let states: RegistrationStateRepository;

  beforeAll(async () => {
    db = await createTestDatabase();
    const rows = db.dataSource.getRepository(RegistrationEntity);
    registrations = new RegistrationRepository(rows, parseSettings(db.env));
    states = new RegistrationStateRepository(rows);
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function register(
    tag: string,
    lastUpdate = T,
    change: Partial<RegistrationWrite> = {},
  ): Promise<number> {
    const key = { instanceUrl: INSTANCE_URL, appId: 'app', tag };
    await registrations.upsert({
      ...key,
      accessToken: `token-${tag}`,
      appSecretHash: hashSecret('secret'),
      callbackUrl: `https://cb.example/${tag}`,
      endpoint: null,
      lastUpdate,
      ...change,
    });
    return (await registrations.findByKey(key))!.id;
  }

  const statusOf = (tag: string) =>
    states.findStatusByKey({ instanceUrl: INSTANCE_URL, appId: 'app', tag });

  it('writes hundreds of states in batches, each row its own values; undefined keeps what is stored', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 450; i++) ids.push(await register(`batch-${i}`));
    const writes: StateWrite[] = ids.map((id, i) => ({
      id,
      state: i % 2 === 0 ? 'streaming' : 'retrying',
      since: T + i,
      lastError: i % 2 === 0 ? undefined : `error ${i} ${'é'.repeat(600)}`,
      endpointInUse: i % 3 === 0 ? 'user:notification' : undefined,
    }));
    await states.writeStates(writes, 'host-a:1');
    await states.writeRelayedAt(ids.slice(0, 250).map((id, i) => ({ id, at: T + 10_000 + i })));

    const first = await statusOf('batch-0');
    expect(first).toMatchObject({
      state: 'streaming',
      stateSince: T,
      lastError: null,
      heldBy: 'host-a:1',
      endpointInUse: 'user:notification',
      lastRelayedAt: T + 10_000,
      removalReason: null,
    });
    const odd = await statusOf('batch-449');
    expect(odd?.state).toBe('retrying');
    expect(odd?.stateSince).toBe(T + 449);
    // cut to the column's 500 characters, not bytes
    expect(odd?.lastError).toBe(`error 449 ${'é'.repeat(600)}`.slice(0, 500));
    expect(odd?.endpointInUse).toBeNull();
    expect(odd?.lastRelayedAt).toBeNull();

    // the same state again without a start keeps the stored one and the stored error
    await states.writeStates(
      [{ id: ids[449], state: 'retrying', endpointInUse: 'user' }],
      'host-b:2',
    );
    expect(await statusOf('batch-449')).toMatchObject({
      stateSince: T + 449,
      lastError: `error 449 ${'é'.repeat(600)}`.slice(0, 500),
      endpointInUse: 'user',
      heldBy: 'host-b:2',
    });
  });

  it('marks a removal only on the row as read: a renewed row stays, a removed one is not written over', async () => {
    const id = await register('revoked');
    expect(
      await states.markRemoved(id, T - 1, 'revoked', T + 5, 'the upgrade answered HTTP 401'),
    ).toBe(false);
    expect(await states.markRemoved(id, T, 'revoked', T + 5, 'the upgrade answered HTTP 401')).toBe(
      true,
    );
    expect(await states.markRemoved(id, T, 'scope', T + 6, 'again')).toBe(false);
    await states.writeStates([{ id, state: 'streaming', since: T + 7 }], 'late:1');
    expect(await statusOf('revoked')).toMatchObject({
      state: 'removed',
      stateSince: T + 5,
      removalReason: 'revoked',
      lastError: 'the upgrade answered HTTP 401',
    });
    // a removed row is not read as an expiry candidate again
    expect(await registrations.findExpiredIds(T + 1)).not.toContain(id);
    expect((await registrations.findById(id))?.removed).toBe(true);
  });

  it('brings a removed registration back when it is registered again, and only then', async () => {
    const id = await register('comeback');
    await states.markRemoved(id, T, 'config', T + 1, 'app is no longer in app_map');
    await register('comeback', T + 100);
    const status = await statusOf('comeback');
    expect(status).toMatchObject({ state: null, removalReason: null, lastUpdate: T + 100 });
    expect((await registrations.findById(id))?.removed).toBeUndefined();

    // renewing a live registration keeps its state
    await states.writeStates([{ id, state: 'streaming', since: T + 200 }], 'h:1');
    await register('comeback', T + 300);
    expect((await statusOf('comeback'))?.state).toBe('streaming');
  });

  it('marks expired rows not renewed since the cutoff, and deletes removed rows after their time', async () => {
    const stale = await register('stale', T - 10);
    const renewed = await register('renewed', T + 10);
    const marked = await states.markExpired([stale, renewed], T, T + 50);
    expect(marked).toEqual([stale]);
    expect(await statusOf('stale')).toMatchObject({
      state: 'removed',
      removalReason: 'expired',
      stateSince: T + 50,
    });
    expect((await statusOf('renewed'))?.state).toBeNull();
    // marking again changes nothing
    expect(await states.markExpired([stale], T, T + 60)).toEqual([]);

    await states.deleteRemovedBefore(T + 50);
    expect(await statusOf('stale')).toBeDefined();
    expect(await states.deleteRemovedBefore(T + 51)).toBe(1);
    expect(await statusOf('stale')).toBeUndefined();
    expect(await statusOf('renewed')).toBeDefined();
  });

  it('keeps the stored endpoint in use when a write does not name one', async () => {
    const id = await register('endpoint-kept');
    await states.writeStates(
      [{ id, state: 'streaming', endpointInUse: 'user:notification' }],
      'h:1',
    );
    await states.writeStates([{ id, state: 'retrying', lastError: 'closed' }], 'h:1');
    expect(await statusOf('endpoint-kept')).toMatchObject({
      state: 'retrying',
      endpointInUse: 'user:notification',
      lastError: 'closed',
    });
  });

  it('cuts the last error of a removal to the column', async () => {
    const id = await register('removed-long-error');
    expect(await states.markRemoved(id, T, 'revoked', T + 1, `denied ${'é'.repeat(600)}`)).toBe(
      true,
    );
    expect((await statusOf('removed-long-error'))?.lastError).toBe(
      `denied ${'é'.repeat(600)}`.slice(0, 500),
    );
  });

  it('returns the expired ids in ascending order across batches, leaving out ids without a row', async () => {
    const first = await register('order-first', T - 10);
    const second = await register('order-second', T - 10);
    // 500 ids a batch: the second is marked in the first batch, the first in the next one
    const gone = Array.from({ length: 499 }, (_, i) => 5_000_000 + i);
    expect(await states.markExpired([second, ...gone, first], T, T + 70)).toEqual([first, second]);
    expect(await states.markExpired([], T, T + 80)).toEqual([]);
  });

  it('reads the whole status of a registration by its key, none for an unknown key', async () => {
    const id = await register('status-whole', T + 3, {
      endpoint: 'direct',
      appSecretHash: hashSecret('status-secret'),
    });
    expect(await statusOf('status-whole')).toEqual({
      id,
      lastUpdate: T + 3,
      endpoint: 'direct',
      appSecretHash: hashSecret('status-secret'),
      state: null,
      stateSince: null,
      lastError: null,
      lastRelayedAt: null,
      heldBy: null,
      endpointInUse: null,
      removalReason: null,
    });
    expect(await statusOf('status-unknown')).toBeUndefined();
  });
});
