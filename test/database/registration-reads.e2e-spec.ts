import { RegistrationRepository } from '@app/database';
import { hashSecret } from '@app/security';
import {
  INSTANCE_URL,
  registrationsOnDatabase,
  RegistrationsOnDatabase,
} from './registrations-on-database';

const T = 1_700_000_000_000;

/** The reads the listener's change passes make, against the real database of the run. */
describe('registration reads of the reconcile pass (real database)', () => {
  let on: RegistrationsOnDatabase;
  let registrations: RegistrationRepository;
  const register = (tag: string, lastUpdate: number) => on.register(tag, lastUpdate);

  beforeAll(async () => {
    on = await registrationsOnDatabase();
    registrations = on.registrations;
  });

  afterAll(async () => {
    await on?.db.drop();
  });

  it('gives the id and lastUpdate of the rows stamped at or after a time, as numbers, in id order', async () => {
    await register('before', T - 1);
    const late = await register('late', T + 5_000_000_000);
    const atTheEdge = await register('edge', T);
    expect(await registrations.findStampsSince(T)).toEqual([
      { id: late, lastUpdate: T + 5_000_000_000 },
      { id: atTheEdge, lastUpdate: T },
    ]);
    expect(await registrations.findStampsSince(T + 5_000_000_001)).toEqual([]);
  });

  it('reads whole rows by id across batches, in id order, skipping ids without a row', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 1_100; i++) ids.push(await register(`batch-${i}`, T - 10));
    const gone = ids[700];
    await registrations.deleteById(gone);

    const found = await registrations.findByIds([...ids].reverse().concat([2_000_000_000]));
    const expected = ids.filter((id) => id !== gone).sort((a, b) => a - b);
    expect(found.map((r) => r.id)).toEqual(expected);
    expect(found[0]).toEqual({
      id: ids[0],
      lastUpdate: T - 10,
      instanceUrl: INSTANCE_URL,
      appId: 'app',
      tag: 'batch-0',
      accessToken: 'token-batch-0',
      appSecretHash: hashSecret('secret'),
      callbackUrl: 'https://cb.example/batch-0',
      endpoint: null,
      lastNotificationId: null,
      transport: null,
    });
  });

  it('stores catch-up cursors in batches, leaving other rows alone, and reads them back', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 620; i++) ids.push(await register(`cursor-${i}`, T));
    const untouched = await register('cursor-untouched', T);
    await registrations.updateCursors([{ id: untouched, cursor: '5' }]);
    const snowflake = '113456789012345678901';
    await registrations.updateCursors([
      ...ids.map((id, index) => ({ id, cursor: index === 0 ? snowflake : `9fz-${index}` })),
      { id: 2_000_000_000, cursor: '1' },
    ]);
    expect(await registrations.findCursor(ids[0])).toBe(snowflake);
    expect(await registrations.findCursor(ids[619])).toBe('9fz-619');
    expect(await registrations.findCursor(untouched)).toBe('5');
    expect(await registrations.findCursor(2_000_000_000)).toBeUndefined();
    await registrations.updateCursors([{ id: ids[1], cursor: null }]);
    expect(await registrations.findCursor(ids[1])).toBeNull();
    expect((await registrations.findById(ids[0]))?.lastNotificationId).toBe(snowflake);

    const cursors = await registrations.findCursors([...ids, untouched, 2_000_000_000]);
    expect(cursors.size).toBe(ids.length + 1);
    expect(cursors.get(ids[0])).toBe(snowflake);
    expect(cursors.get(ids[1])).toBeNull();
    expect(cursors.get(ids[619])).toBe('9fz-619');
    expect(cursors.get(untouched)).toBe('5');
    expect(cursors.has(2_000_000_000)).toBe(false);
    expect((await registrations.findCursors([])).size).toBe(0);
  });

  it('tells which of the ids asked still have a row', async () => {
    const [kept, gone, alsoKept] = [
      await register('exists-a', T),
      await register('exists-b', T),
      await register('exists-c', T),
    ];
    await registrations.deleteById(gone);
    const found = await registrations.findExistingIds([alsoKept, gone, kept, 2_000_000_000]);
    expect(found.sort((a, b) => a - b)).toEqual([kept, alsoKept]);
    expect(await registrations.findExistingIds([])).toEqual([]);
  });

  it('keeps the cursor when a registration is renewed with the same endpoint, drops it when the endpoint changes', async () => {
    const key = { instanceUrl: INSTANCE_URL, appId: 'app', tag: 'endpoint-change' };
    const write = {
      ...key,
      accessToken: 'token-x',
      appSecretHash: hashSecret('secret'),
      callbackUrl: 'https://cb.example/x',
      endpoint: null,
      lastUpdate: T,
    };
    await registrations.upsert(write);
    const id = (await registrations.findByKey(key))!.id;
    await registrations.updateCursors([{ id, cursor: '1234' }]);
    await registrations.upsert({ ...write, lastUpdate: T + 1, accessToken: 'token-y' });
    expect(await registrations.findCursor(id)).toBe('1234');
    await registrations.upsert({ ...write, lastUpdate: T + 2, endpoint: 'direct' });
    expect(await registrations.findCursor(id)).toBeNull();
    await registrations.updateCursors([{ id, cursor: '113000000000000000001' }]);
    await registrations.upsert({ ...write, lastUpdate: T + 3, endpoint: 'direct' });
    expect(await registrations.findCursor(id)).toBe('113000000000000000001');
    await registrations.upsert({ ...write, lastUpdate: T + 4, endpoint: 'user' });
    expect(await registrations.findCursor(id)).toBeNull();
  });
});
