import { randomBytes } from 'node:crypto';
import { RegistrationEntity, RegistrationStateRepository } from '@app/database';
import { registrationsOnDatabase, RegistrationsOnDatabase } from './registrations-on-database';

const T = 1_700_000_000_000;

/**
 * The listener removes a registration when Mastodon refuses its token and when
 * it expired, after reading it. An app server may renew it in between: the
 * renewal must survive. On the real database of the run.
 */
describe('removing registrations while they are renewed (real database)', () => {
  let on: RegistrationsOnDatabase;
  let states: RegistrationStateRepository;

  beforeAll(async () => {
    on = await registrationsOnDatabase();
    states = new RegistrationStateRepository(on.db.dataSource.getRepository(RegistrationEntity));
  });

  afterAll(async () => {
    await on?.db.drop();
  });

  const removed = async (id: number) => (await on.registrations.findById(id))?.removed === true;

  describe('refused token (markRemoved)', () => {
    it('removes the row when it was not renewed since it was read, once', async () => {
      const id = await on.register('revoked-unchanged', T);
      const read = (await on.registrations.findById(id))!;

      expect(await states.markRemoved(read.id, read.lastUpdate, 'revoked', T + 5, undefined)).toBe(
        true,
      );
      expect(await removed(id)).toBe(true);
      expect(await states.markRemoved(read.id, read.lastUpdate, 'revoked', T + 6, undefined)).toBe(
        false,
      );
    });

    it('keeps the row renewed with a new token after the old one was read', async () => {
      const id = await on.register('revoked-renewed', T);
      const read = (await on.registrations.findById(id))!;
      await on.register('revoked-renewed', T + 1, { accessToken: 'token-new' });

      expect(await states.markRemoved(read.id, read.lastUpdate, 'revoked', T + 5, undefined)).toBe(
        false,
      );
      expect(await removed(id)).toBe(false);
      expect(await on.find('revoked-renewed')).toMatchObject({
        id,
        lastUpdate: T + 1,
        accessToken: 'token-new',
      });
    });

    it('leaves a renewal racing the removal alive, whichever statement lands first', async () => {
      for (let round = 0; round < 20; round++) {
        const tag = `revoked-race-${round}`;
        const read = (await on.registrations.findById(await on.register(tag, T)))!;
        await Promise.all([
          states.markRemoved(read.id, read.lastUpdate, 'revoked', T + 5, undefined),
          on.register(tag, T + 1, { accessToken: `token-new-${round}` }),
        ]);
        const after = await on.find(tag);
        // removed first: the renewal brought it back; renewed first: the removal matched nothing
        expect(after).toMatchObject({ lastUpdate: T + 1, accessToken: `token-new-${round}` });
        expect(after!.removed).toBeUndefined();
      }
    });
  });

  describe('expiry (findExpiredIds, then markExpired)', () => {
    it('ends what is still expired, keeps what was renewed meanwhile and what was never expired', async () => {
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
      const marked = await states.markExpired([...expired, atCutoff, fresh], cutoff, cutoff + 20);

      expect(marked).toContain(stale);
      expect(marked).not.toContain(renewed);
      expect(await removed(stale)).toBe(true);
      for (const id of [renewed, atCutoff, fresh]) expect(await removed(id)).toBe(false);
      expect(await on.find('expiry-renewed')).toMatchObject({
        lastUpdate: cutoff + 10,
        accessToken: 'token-renewed',
      });
    });

    it('finds as expired the rows not renewed in time in any state but removed', async () => {
      const cutoff = T + 4_000;
      const [unseen, streaming, retrying, ended] = [
        await on.register('expired-unseen', cutoff - 1),
        await on.register('expired-streaming', cutoff - 1),
        await on.register('expired-retrying', cutoff - 1),
        await on.register('expired-removed', cutoff - 1),
      ];
      await states.writeStates(
        [
          { id: streaming, state: 'streaming', since: T },
          { id: retrying, state: 'retrying', since: T },
        ],
        'host-a:1',
      );
      expect(await states.markRemoved(ended, cutoff - 1, 'revoked', T, undefined)).toBe(true);

      const expired = await on.registrations.findExpiredIds(cutoff);
      expect(expired).toEqual(expect.arrayContaining([unseen, streaming, retrying]));
      expect(expired).not.toContain(ended);
    });

    it('keeps a renewal racing an expiry alive whichever lands first', async () => {
      const cutoff = T + 3_000;
      for (let round = 0; round < 20; round++) {
        const tag = `expiry-race-${round}`;
        const id = await on.register(tag, cutoff - 1);
        await Promise.all([
          states.markExpired([id], cutoff, cutoff + 5),
          on.register(tag, cutoff + 1, { accessToken: `token-${randomBytes(4).toString('hex')}` }),
        ]);
        const after = await on.find(tag);
        expect(after).toMatchObject({ lastUpdate: cutoff + 1 });
        expect(after!.removed).toBeUndefined();
      }
    });

    it('ends expired rows beyond one IN list (more than 500 ids), and only those given', async () => {
      const cutoff = T + 2_000;
      const ids: number[] = [];
      for (let i = 0; i < 510; i++) ids.push(await on.register(`expiry-batch-${i}`, T + 1_500));
      const notGiven = ids.pop()!;

      const marked = await states.markExpired(ids, cutoff, cutoff + 5);
      expect(marked).toEqual([...ids].sort((a, b) => a - b));
      expect(await removed(notGiven)).toBe(false);
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
