import { randomBytes } from 'node:crypto';
import { registrationsOnDatabase, RegistrationsOnDatabase } from './registrations-on-database';

const T = 1_700_000_000_000;

/**
 * The listener removes a registration when Mastodon refuses its token and when
 * it expired, after reading it. An app server may renew it in between: the
 * renewal must survive. On the real database of the run.
 */
describe('removing registrations while they are renewed (real database)', () => {
  let on: RegistrationsOnDatabase;

  beforeAll(async () => {
    on = await registrationsOnDatabase();
  });

  afterAll(async () => {
    await on?.db.drop();
  });

  describe('revoked token (deleteByIdIfUnchanged)', () => {
    it('deletes the row when it was not renewed since it was read', async () => {
      const id = await on.register('revoked-unchanged', T);
      const read = (await on.registrations.findById(id))!;

      expect(await on.registrations.deleteByIdIfUnchanged(read.id, read.lastUpdate)).toBe(true);
      expect(await on.registrations.findById(id)).toBeUndefined();
      expect(await on.registrations.deleteByIdIfUnchanged(read.id, read.lastUpdate)).toBe(false);
    });

    it('keeps the row renewed with a new token after the old one was read', async () => {
      const id = await on.register('revoked-renewed', T);
      const read = (await on.registrations.findById(id))!;
      await on.register('revoked-renewed', T + 1, { accessToken: 'token-new' });

      expect(await on.registrations.deleteByIdIfUnchanged(read.id, read.lastUpdate)).toBe(false);
      expect(await on.find('revoked-renewed')).toMatchObject({
        id,
        lastUpdate: T + 1,
        accessToken: 'token-new',
      });
    });

    it('leaves a renewal racing the delete in place, whichever statement lands first', async () => {
      for (let round = 0; round < 20; round++) {
        const tag = `revoked-race-${round}`;
        const read = (await on.registrations.findById(await on.register(tag, T)))!;
        const [deleted] = await Promise.all([
          on.registrations.deleteByIdIfUnchanged(read.id, read.lastUpdate),
          on.register(tag, T + 1, { accessToken: `token-new-${round}` }),
        ]);
        const after = await on.find(tag);
        expect(after).toMatchObject({ lastUpdate: T + 1, accessToken: `token-new-${round}` });
        // deleted first: the renewal inserted a new row; renewed first: the delete found nothing to delete
        expect(after!.id === read.id).toBe(!deleted);
      }
    });
  });

  describe('expiry (findExpiredIds, then deleteExpiredByIds)', () => {
    it('deletes what is still expired, keeps what was renewed meanwhile and what was never expired', async () => {
      const cutoff = T + 1_000;
      const stale = await on.register('expiry-stale', cutoff - 1);
      const renewed = await on.register('expiry-renewed', T);
      const atCutoff = await on.register('expiry-at-cutoff', cutoff);
      const fresh = await on.register('expiry-fresh', cutoff + 5_000_000_000);

      const expired = await on.registrations.findExpiredIds(cutoff);
      expect(expired).toEqual(expect.arrayContaining([stale, renewed]));
      expect(expired).not.toContain(atCutoff);
      expect(expired).not.toContain(fresh);

      await on.register('expiry-renewed', cutoff + 10, { accessToken: 'token-renewed' });
      await on.registrations.deleteExpiredByIds([...expired, atCutoff, fresh], cutoff);

      const left = await on.registrations.findExistingIds([stale, renewed, atCutoff, fresh]);
      expect(left.sort((a, b) => a - b)).toEqual([renewed, atCutoff, fresh].sort((a, b) => a - b));
      expect(await on.find('expiry-renewed')).toMatchObject({
        lastUpdate: cutoff + 10,
        accessToken: 'token-renewed',
      });
    });

    it('keeps a renewal racing an expiry delete whichever lands first', async () => {
      const cutoff = T + 3_000;
      for (let round = 0; round < 20; round++) {
        const tag = `expiry-race-${round}`;
        const id = await on.register(tag, cutoff - 1);
        await Promise.all([
          on.registrations.deleteExpiredByIds([id], cutoff),
          on.register(tag, cutoff + 1, { accessToken: `token-${randomBytes(4).toString('hex')}` }),
        ]);
        expect(await on.find(tag)).toMatchObject({ lastUpdate: cutoff + 1 });
      }
    });

    it('deletes expired rows beyond one IN list (more than 500 ids), and only those given', async () => {
      const cutoff = T + 2_000;
      const ids: number[] = [];
      for (let i = 0; i < 510; i++) ids.push(await on.register(`expiry-batch-${i}`, T + 1_500));
      const notGiven = ids.pop()!;

      await on.registrations.deleteExpiredByIds(ids, cutoff);
      expect(await on.registrations.findExistingIds([...ids, notGiven])).toEqual([notGiven]);
    });
  });

  describe('removal by key and by id', () => {
    it('says whether it removed a row', async () => {
      const id = await on.register('by-id', T);
      expect(await on.registrations.deleteById(id)).toBe(true);
      expect(await on.registrations.deleteById(id)).toBe(false);

      await on.register('by-key', T);
      const key = {
        instanceUrl: (await on.find('by-key'))!.instanceUrl,
        appId: 'app',
        tag: 'by-key',
      };
      expect(await on.registrations.deleteByKey({ ...key, appId: 'other-app' })).toBe(false);
      expect(await on.registrations.deleteByKey(key)).toBe(true);
      expect(await on.find('by-key')).toBeUndefined();
      expect(await on.registrations.deleteByKey(key)).toBe(false);
    });
  });
});
