import { randomBytes } from 'node:crypto';
import { REGISTRATIONS_TABLE } from '@app/database';
import { hashSecret } from '@app/security';
import {
  INSTANCE_URL,
  registrationsOnDatabase,
  RegistrationsOnDatabase,
} from './registrations-on-database';

const T = 1_700_000_000_000;
const KEY = randomBytes(32);

/** What the api writes and what the listener reads back, with tokens sealed at rest, on the real database of the run. */
describe('registration writes and rows as read back (real database)', () => {
  let on: RegistrationsOnDatabase;

  beforeAll(async () => {
    on = await registrationsOnDatabase(KEY);
  });

  afterAll(async () => {
    await on?.db.drop();
  });

  const storedToken = (id: number) => on.storedToken(id);

  it('creates a row, then updates the same row on a renewal, and says which it did', async () => {
    const write = {
      instanceUrl: INSTANCE_URL,
      appId: 'app',
      tag: 'upsert',
      accessToken: 'token-one',
      appSecretHash: hashSecret('secret'),
      callbackUrl: 'https://cb.example/one',
      endpoint: null,
      lastUpdate: T,
    };
    expect(await on.registrations.upsert(write)).toBe('created');
    const created = (await on.find('upsert'))!;
    expect(
      await on.registrations.upsert({
        ...write,
        accessToken: 'token-two',
        callbackUrl: 'https://cb.example/two',
        endpoint: 'direct',
        appSecretHash: hashSecret('new'),
        lastUpdate: T + 5,
      }),
    ).toBe('updated');
    expect(await on.find('upsert')).toEqual({
      ...write,
      id: created.id,
      lastNotificationId: null,
      // no transport asked for: the instance's (or the stream) decides
      transport: null,
      accessToken: 'token-two',
      callbackUrl: 'https://cb.example/two',
      endpoint: 'direct',
      appSecretHash: hashSecret('new'),
      lastUpdate: T + 5,
    });
    expect(await on.registrations.upsert({ ...write, tag: 'upsert-other' })).toBe('created');
  });

  it('says "updated" for a renewal that leaves the row as it was', async () => {
    // without a token key nothing differs between the two writes, not even a sealing's random IV
    const plain = on.withKey(undefined);
    const write = {
      instanceUrl: INSTANCE_URL,
      appId: 'app',
      tag: 'unchanged',
      accessToken: 'token-unchanged',
      appSecretHash: hashSecret('secret'),
      callbackUrl: 'https://cb.example/unchanged',
      endpoint: null,
      lastUpdate: T,
    };
    // the same clock too: both writes within one tick of the row's updatedAt
    jest.useFakeTimers({
      now: T,
      doNotFake: [
        'hrtime',
        'nextTick',
        'performance',
        'queueMicrotask',
        'setImmediate',
        'clearImmediate',
        'setInterval',
        'clearInterval',
        'setTimeout',
        'clearTimeout',
      ],
    });
    try {
      expect(await plain.upsert(write)).toBe('created');
      expect(await plain.upsert(write)).toBe('updated');
    } finally {
      jest.useRealTimers();
    }
  });

  it('stores the transport asked for, and none when a renewal asks for none', async () => {
    const id = await on.register('transport', T, { transport: 'webpush' });
    expect((await on.registrations.findById(id))!.transport).toBe('webpush');
    await on.register('transport', T + 1);
    expect((await on.registrations.findById(id))!.transport).toBeNull();
  });

  it('two concurrent registrations of one new key both succeed, on one row', async () => {
    const results = await Promise.all(
      [1, 2, 3].map((n) =>
        on.register('concurrent', T + n, { accessToken: `token-concurrent-${n}` }).then(() => n),
      ),
    );
    expect(results).toEqual([1, 2, 3]);
    expect(await on.registrations.findAllIds()).toContain((await on.find('concurrent'))!.id);
  });

  it('stores the token sealed and reads it back in the clear', async () => {
    const id = await on.register('sealed', T, { accessToken: 'token-secret-value' });
    const stored = await storedToken(id);
    expect(stored).toMatch(/^enc:v1:/);
    expect(stored).not.toContain('token-secret-value');
    expect((await on.registrations.findById(id))!.accessToken).toBe('token-secret-value');
  });

  it('reads tokens written before the key was set; skips rows it cannot open, and incomplete rows', async () => {
    const plain = on.withKey(undefined);
    await plain.upsert({
      instanceUrl: INSTANCE_URL,
      appId: 'app',
      tag: 'plain-before-key',
      accessToken: 'token-plain',
      appSecretHash: hashSecret('secret'),
      callbackUrl: 'https://cb.example/plain',
      endpoint: 'user',
      lastUpdate: T,
    });
    const plainRow = (await on.find('plain-before-key'))!;
    expect(plainRow).toMatchObject({ accessToken: 'token-plain', endpoint: 'user' });
    expect(await storedToken(plainRow.id)).toBe('token-plain');

    const sealedId = await on.register('sealed-other', T);
    // the plain repository cannot open a sealed token; another key cannot either
    expect(await plain.findById(sealedId)).toBeUndefined();
    expect(await on.withKey(randomBytes(32)).findById(sealedId)).toBeUndefined();
    const all = await plain.findAll();
    expect(all.map((r) => r.id)).toContain(plainRow.id);
    expect(all.map((r) => r.id)).not.toContain(sealedId);
    expect((await plain.findByIds([sealedId, plainRow.id])).map((r) => r.id)).toEqual([
      plainRow.id,
    ]);

    const incompleteId = await on.register('incomplete', T);
    await on.db.query(`UPDATE ${REGISTRATIONS_TABLE} SET "callbackUrl" = '' WHERE id = ?`, [
      incompleteId,
    ]);
    expect(await on.registrations.findById(incompleteId)).toBeUndefined();
    expect((await on.registrations.findAll()).map((r) => r.id)).not.toContain(incompleteId);
    expect(await on.registrations.countAll()).toBe((await on.registrations.findAllIds()).length);
  });

  it('reads an endpoint it does not know as none (decided from config and version)', async () => {
    const id = await on.register('odd-endpoint', T, { endpoint: 'direct' });
    await on.db.query(`UPDATE ${REGISTRATIONS_TABLE} SET endpoint = 'public' WHERE id = ?`, [id]);
    expect((await on.registrations.findById(id))!.endpoint).toBeNull();
  });
});
