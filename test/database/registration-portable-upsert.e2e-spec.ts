import { randomBytes } from 'node:crypto';
import { QueryFailedError } from 'typeorm';
import {
  RegistrationEntity,
  RegistrationRepository,
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

/**
 * The upsert of dialects without a one-statement upsert (SQL Server): UPDATE,
 * then INSERT on a miss. It keeps the promises of the one-statement upserts,
 * here on the real database of the run.
 */
describe('registration upsert without a one-statement upsert (real database)', () => {
  let on: RegistrationsOnDatabase;
  let portable: RegistrationRepository;

  beforeAll(async () => {
    on = await registrationsOnDatabase(randomBytes(32));
  });

  // built in each test, so that mutation testing counts the statements it builds as covered by these tests
  beforeEach(() => {
    portable = on.portable();
  });

  afterAll(async () => {
    await on?.db.drop();
  });

  const write = (tag: string, change: Partial<RegistrationWrite> = {}): RegistrationWrite => ({
    instanceUrl: INSTANCE_URL,
    appId: 'app',
    tag,
    accessToken: `token-${tag}`,
    appSecretHash: hashSecret('secret'),
    callbackUrl: `https://cb.example/${tag}`,
    endpoint: null,
    lastUpdate: T,
    ...change,
  });

  it('creates a row, then updates only that row on a renewal, and says which it did', async () => {
    expect(await portable.upsert(write('first'))).toBe('created');
    expect(await portable.upsert(write('second'))).toBe('created');
    const first = (await on.find('first'))!;
    const renewal = write('first', {
      accessToken: 'token-renewed',
      appSecretHash: hashSecret('new'),
      callbackUrl: 'https://cb.example/renewed',
      endpoint: 'direct',
      transport: 'webpush',
      lastUpdate: T + 5,
    });
    expect(await portable.upsert(renewal)).toBe('updated');

    const { instanceUrl, appId, tag, accessToken, appSecretHash, callbackUrl, endpoint } = renewal;
    expect(await on.find('first')).toEqual({
      ...{ instanceUrl, appId, tag, accessToken, appSecretHash, callbackUrl, endpoint },
      id: first.id,
      lastUpdate: T + 5,
      transport: 'webpush',
      lastNotificationId: null,
    });
    expect(await on.find('second')).toMatchObject({ accessToken: 'token-second', lastUpdate: T });
  });

  it('keeps the cursor on a renewal with the same endpoint (none too), drops it when the endpoint changes', async () => {
    await portable.upsert(write('cursor'));
    const id = (await on.find('cursor'))!.id;
    await on.registrations.updateCursors([{ id, cursor: '1234' }]);
    await portable.upsert(write('cursor', { lastUpdate: T + 1 }));
    expect(await on.registrations.findCursor(id)).toBe('1234');

    await portable.upsert(write('cursor', { lastUpdate: T + 2, endpoint: 'direct' }));
    expect(await on.registrations.findCursor(id)).toBeNull();
    await on.registrations.updateCursors([{ id, cursor: '5678' }]);
    await portable.upsert(write('cursor', { lastUpdate: T + 3, endpoint: 'direct' }));
    expect(await on.registrations.findCursor(id)).toBe('5678');
    await portable.upsert(write('cursor', { lastUpdate: T + 4 }));
    expect(await on.registrations.findCursor(id)).toBeNull();
  });

  it('brings a removed registration back as new when it is registered again', async () => {
    const states = new RegistrationStateRepository(
      on.db.dataSource.getRepository(RegistrationEntity),
    );
    await portable.upsert(write('removed'));
    const id = (await on.find('removed'))!.id;
    await on.registrations.updateCursors([{ id, cursor: '1234' }]);
    expect(await states.markRemoved(id, T, 'revoked', T + 1, undefined)).toBe(true);
    expect((await on.find('removed'))!.removed).toBe(true);

    expect(await portable.upsert(write('removed', { lastUpdate: T + 2 }))).toBe('updated');
    const back = (await on.find('removed'))!;
    expect(back).toMatchObject({ id, lastUpdate: T + 2, lastNotificationId: null });
    expect(back.removed).toBeUndefined();
  });

  it('lets concurrent registrations of one new key all succeed, on one row', async () => {
    for (let round = 0; round < 10; round++) {
      const tag = `concurrent-${round}`;
      const results = await Promise.all(
        [1, 2, 3].map((n) => portable.upsert(write(tag, { lastUpdate: T + n }))),
      );
      expect(results.filter((r) => r === 'created')).toHaveLength(1);
      const ids = (await on.registrations.findAll()).filter((r) => r.tag === tag);
      expect(ids).toHaveLength(1);
    }
  });

  it('passes on a write the database refuses, storing nothing', async () => {
    // a tag longer than its column: no row matches it, and none can take it
    const tooLong = 'x'.repeat(300);
    await expect(portable.upsert(write(tooLong))).rejects.toThrow(QueryFailedError);
    expect(await on.find(tooLong)).toBeUndefined();
  });
});
