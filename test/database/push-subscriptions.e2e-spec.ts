import { randomBytes } from 'node:crypto';
import { parseSettings } from '@app/config';
import {
  PUSH_SUBSCRIPTIONS_TABLE,
  PushSubscription,
  PushSubscriptionEntity,
  PushSubscriptionRepository,
  RegistrationEntity,
  REGISTRATIONS_TABLE,
  RegistrationStateRepository,
} from '@app/database';
import { registrationsOnDatabase, RegistrationsOnDatabase } from './registrations-on-database';

const T = 1_700_000_000_000;
const KEY = randomBytes(32);

/** A subscription of registration `registrationId` with keys of its own, `change` over the defaults. */
function subscriptionOf(
  registrationId: number,
  change: Partial<PushSubscription> = {},
): PushSubscription {
  return {
    registrationId,
    pushId: `push-${registrationId}`,
    publicKey: `public-${registrationId}`,
    privateKey: `private-${registrationId}`,
    authSecret: `auth-${registrationId}`,
    serverKey: null,
    state: 'subscribing',
    tokenHash: `hash-${registrationId}`,
    lastError: null,
    updatedAt: T,
    ...change,
  };
}

/** The listener's and the api's Web Push subscriptions, keys sealed at rest, on the real database of the run. */
describe('push subscriptions (real database)', () => {
  let on: RegistrationsOnDatabase;
  let subscriptions: PushSubscriptionRepository;

  const withKey = (key: Buffer | undefined) =>
    new PushSubscriptionRepository(on.db.dataSource.getRepository(PushSubscriptionEntity), {
      ...parseSettings(on.db.env),
      tokenEncryptionKey: key,
    });

  beforeAll(async () => {
    on = await registrationsOnDatabase();
    subscriptions = withKey(KEY);
  });

  afterAll(async () => {
    await on?.db.drop();
  });

  async function stored(
    registrationId: number,
  ): Promise<{ privateKey: string; authSecret: string }> {
    const [row] = await on.db.query<{ privateKey: string; authSecret: string }>(
      `SELECT "privateKey", "authSecret" FROM ${PUSH_SUBSCRIPTIONS_TABLE} WHERE "registrationId" = ?`,
      [registrationId],
    );
    return row;
  }

  it('stores the keys sealed, reads them back in the clear, and a save again replaces the row', async () => {
    await subscriptions.save(subscriptionOf(101));
    await subscriptions.save(subscriptionOf(102));
    const row = await stored(101);
    expect(row.privateKey).toMatch(/^enc:v1:/);
    expect(row.authSecret).toMatch(/^enc:v1:/);
    expect(JSON.stringify(row)).not.toMatch(/private-101|auth-101/);
    expect(await subscriptions.findByRegistration(101)).toEqual(subscriptionOf(101));

    const replaced = subscriptionOf(101, {
      pushId: 'push-101-new',
      privateKey: 'private-101-new',
      state: 'subscribed',
      serverKey: 'server-101',
      lastError: 'earlier failure',
      updatedAt: T + 1,
    });
    await subscriptions.save(replaced);
    expect(await subscriptions.findByRegistration(101)).toEqual(replaced);
    expect(await subscriptions.findByRegistration(102)).toEqual(subscriptionOf(102));
    expect(await subscriptions.findByRegistration(103)).toBeUndefined();
  });

  it('finds the subscriptions of the ids that have one, none for no ids', async () => {
    for (const id of [201, 202, 203]) await subscriptions.save(subscriptionOf(id));
    const found = await subscriptions.findByRegistrations([203, 201, 299]);
    expect([...found.keys()].sort()).toEqual([201, 203]);
    expect(found.get(203)).toEqual(subscriptionOf(203));
    expect((await subscriptions.findByRegistrations([])).size).toBe(0);
  });

  it('skips a subscription whose keys it cannot open, or whose state it does not know', async () => {
    await withKey(randomBytes(32)).save(subscriptionOf(301));
    await subscriptions.save(subscriptionOf(302));
    await subscriptions.save(subscriptionOf(303));
    await on.db.query(
      `UPDATE ${PUSH_SUBSCRIPTIONS_TABLE} SET state = 'paused' WHERE "registrationId" = ?`,
      [303],
    );
    expect(await subscriptions.findByRegistration(301)).toBeUndefined();
    expect(await subscriptions.findByRegistration(303)).toBeUndefined();
    expect(await subscriptions.findTarget('push-301')).toBeUndefined();
    expect([...(await subscriptions.findByRegistrations([301, 302, 303])).keys()]).toEqual([302]);
    // without a key, what is sealed stays closed
    expect(await withKey(undefined).findByRegistration(302)).toBeUndefined();
  });

  it('records a state, writing the server key and the last error only when given', async () => {
    await subscriptions.save(
      subscriptionOf(401, { serverKey: 'old-server', lastError: 'old error' }),
    );
    await subscriptions.save(subscriptionOf(402));
    await subscriptions.updateState(401, 'refused');
    expect(await subscriptions.findByRegistration(401)).toMatchObject({
      state: 'refused',
      serverKey: 'old-server',
      lastError: 'old error',
    });

    await subscriptions.updateState(401, 'refused', { lastError: `denied ${'x'.repeat(600)}` });
    expect((await subscriptions.findByRegistration(401))?.lastError).toBe(
      `denied ${'x'.repeat(600)}`.slice(0, 500),
    );
    await subscriptions.updateState(401, 'subscribed', {
      serverKey: 'new-server',
      lastError: null,
    });
    expect(await subscriptions.findByRegistration(401)).toMatchObject({
      state: 'subscribed',
      serverKey: 'new-server',
      lastError: null,
    });
    expect(await subscriptions.findByRegistration(402)).toEqual(subscriptionOf(402));
  });

  it('finds the target of a push id, live only while its registration exists and is not removed', async () => {
    const live = await on.register('push-live', T);
    const removed = await on.register('push-removed', T);
    await new RegistrationStateRepository(
      on.db.dataSource.getRepository(RegistrationEntity),
    ).markRemoved(removed, T, 'revoked', T + 1, undefined);
    const gone = 9_999_999;
    for (const id of [live, removed, gone]) await subscriptions.save(subscriptionOf(id));

    expect(await subscriptions.findTarget(`push-${live}`)).toEqual({
      ...subscriptionOf(live),
      registrationLive: true,
    });
    expect((await subscriptions.findTarget(`push-${removed}`))?.registrationLive).toBe(false);
    expect(await subscriptions.findTarget(`push-${gone}`)).toEqual({
      ...subscriptionOf(gone),
      registrationLive: false,
    });
    expect(await subscriptions.findTarget('push-unknown')).toBeUndefined();
  });

  it('deletes the subscription of one registration, and those whose registration is gone', async () => {
    const kept = await on.register('push-kept', T);
    const orphans = [8_000_001, 8_000_002];
    for (const id of [kept, ...orphans, 8_000_003]) await subscriptions.save(subscriptionOf(id));

    await subscriptions.deleteByRegistration(8_000_003);
    expect(await subscriptions.findByRegistration(8_000_003)).toBeUndefined();
    expect(await subscriptions.findByRegistration(orphans[0])).toBeDefined();

    // the other tests' subscriptions without a registration row are orphans as well
    const [{ count }] = await on.db.query<{ count: number | string }>(
      `SELECT COUNT(*) AS count FROM ${PUSH_SUBSCRIPTIONS_TABLE} s ` +
        `WHERE NOT EXISTS (SELECT 1 FROM ${REGISTRATIONS_TABLE} r WHERE r.id = s."registrationId")`,
    );
    expect(await subscriptions.deleteOrphans()).toBe(Number(count));
    expect((await subscriptions.findByRegistrations([kept, ...orphans])).size).toBe(1);
    expect(await subscriptions.findByRegistration(kept)).toEqual(subscriptionOf(kept));
    expect(await subscriptions.deleteOrphans()).toBe(0);
  });

  it('pages the sealed keys in registration order after a cursor, and replaces one only if unchanged', async () => {
    const paging = withKey(undefined);
    for (const id of [503, 501, 502, 504]) await paging.save(subscriptionOf(id));
    await paging.updateState(501, 'subscribed');

    const page = await paging.findSealedKeysAfter('privateKey', 501, 2);
    expect(page).toEqual([
      { id: 502, stored: 'private-502' },
      { id: 503, stored: 'private-503' },
    ]);
    expect((await paging.findSealedKeysAfter('authSecret', 503, 10)).slice(0, 1)).toEqual([
      { id: 504, stored: 'auth-504' },
    ]);

    expect(await paging.replaceSealedKey('authSecret', 502, 'auth-other', 'auth-502-new')).toBe(
      false,
    );
    expect(await paging.replaceSealedKey('authSecret', 502, 'auth-502', 'auth-502-new')).toBe(true);
    expect(await stored(502)).toEqual({ privateKey: 'private-502', authSecret: 'auth-502-new' });
    expect(await stored(503)).toEqual({ privateKey: 'private-503', authSecret: 'auth-503' });
  });
});
