import { randomBytes } from 'node:crypto';
import { registrationsOnDatabase, RegistrationsOnDatabase } from './registrations-on-database';

const T = 1_700_000_000_000;

/**
 * Reads that promise id order, on a table whose rows the database keeps in
 * another order (PostgreSQL writes a renewed row anew, after the others), and
 * the paging of stored tokens for re-sealing them. On the real database of the run.
 */
describe('registrations read in id order (real database)', () => {
  let on: RegistrationsOnDatabase;
  let ids: number[];
  let before: number;

  beforeAll(async () => {
    on = await registrationsOnDatabase(randomBytes(32));
    before = await on.register('before', T - 10);
    ids = [await on.register('a', T), await on.register('b', T), await on.register('c', T)];
    // renewed: its new row version lands after the others
    await on.register('a', T + 1, { accessToken: 'token-a-renewed' });
  });

  afterAll(async () => {
    await on?.db.drop();
  });

  it('lists all rows and all ids in id order', async () => {
    const all = [before, ...ids];
    expect((await on.registrations.findAll()).map((r) => r.id)).toEqual(all);
    expect(await on.registrations.findAllIds()).toEqual(all);
  });

  it('reads rows by id in id order, whatever the order asked', async () => {
    const [a, b, c] = ids;
    expect((await on.registrations.findByIds([c, a, b])).map((r) => r.id)).toEqual([a, b, c]);
    expect(await on.registrations.findByIds([])).toEqual([]);
  });

  it('gives stamps in id order', async () => {
    const [a, b, c] = ids;
    expect(await on.registrations.findStampsSince(T)).toEqual([
      { id: a, lastUpdate: T + 1 },
      { id: b, lastUpdate: T },
      { id: c, lastUpdate: T },
    ]);
  });

  it('pages through the stored tokens after an id, in id order, as stored', async () => {
    const [a, b, c] = ids;
    const stored = async (id: number) => ({ id, stored: await on.storedToken(id) });
    expect(await on.registrations.findStoredTokensAfter(before, 2)).toEqual([
      await stored(a),
      await stored(b),
    ]);
    expect(await on.registrations.findStoredTokensAfter(b, 2)).toEqual([await stored(c)]);
    expect(await on.registrations.findStoredTokensAfter(c, 2)).toEqual([]);
  });

  it('replaces a stored token only while it is the one expected, leaving the renewal stamp', async () => {
    const [a, b] = ids;
    const read = await on.storedToken(a);
    const other = await on.storedToken(b);
    const plain = on.withKey(undefined);

    expect(await on.registrations.replaceStoredToken(a, other, 'token-resealed')).toBe(false);
    expect(await on.storedToken(a)).toBe(read);
    expect(await on.registrations.replaceStoredToken(a, read, 'token-resealed')).toBe(true);
    expect(await plain.findById(a)).toMatchObject({
      accessToken: 'token-resealed',
      lastUpdate: T + 1,
    });
    expect(await on.storedToken(b)).toBe(other);
    expect(await on.registrations.replaceStoredToken(a, read, 'token-again')).toBe(false);
    expect(await on.storedToken(a)).toBe('token-resealed');
  });
});
