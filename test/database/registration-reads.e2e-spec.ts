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
    });
  });
});
