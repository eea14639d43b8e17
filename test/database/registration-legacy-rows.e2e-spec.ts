import { randomBytes } from 'node:crypto';
import { REGISTRATIONS_TABLE } from '@app/database';
import { registrationsOnDatabase, RegistrationsOnDatabase } from './registrations-on-database';

const T = 1_700_000_000_000;

/**
 * Rows the original program wrote may lack fields it did not require (its
 * table, upgraded in place, keeps them nullable): they are skipped by every
 * read, the others are read as usual. On the real database of the run.
 */
describe('incomplete registration rows (real database)', () => {
  let on: RegistrationsOnDatabase;

  beforeAll(async () => {
    on = await registrationsOnDatabase(randomBytes(32));
    // as in the original program's table
    const runner = on.db.dataSource.createQueryRunner();
    try {
      const table = (await runner.getTable(REGISTRATIONS_TABLE))!;
      for (const name of ['tag', 'accessToken']) {
        const column = table.findColumnByName(name)!;
        const nullable = column.clone();
        nullable.isNullable = true;
        await runner.changeColumn(table, column, nullable);
      }
    } finally {
      await runner.release();
    }
  });

  afterAll(async () => {
    await on?.db.drop();
  });

  const emptied = async (tag: string, column: string, value: string | null) => {
    const id = await on.register(tag, T);
    await on.db.query(`UPDATE ${REGISTRATIONS_TABLE} SET "${column}" = ? WHERE id = ?`, [
      value,
      id,
    ]);
    return id;
  };

  it.each([
    ['instanceUrl', ''],
    ['appId', ''],
    ['tag', null],
    ['accessToken', ''],
    ['accessToken', null],
    ['callbackUrl', ''],
  ])('skips a row whose %s is %p', async (column, value) => {
    const complete = await on.register(`complete-${column}-${value}`, T);
    const id = await emptied(`incomplete-${column}-${value}`, column, value);

    expect(await on.registrations.findById(id)).toBeUndefined();
    expect((await on.registrations.findByIds([id, complete])).map((r) => r.id)).toEqual([complete]);
    const all = (await on.registrations.findAll()).map((r) => r.id);
    expect(all).toContain(complete);
    expect(all).not.toContain(id);
  });

  it('gives a missing token as an empty stored token', async () => {
    const id = await emptied('no-token', 'accessToken', null);
    expect(await on.registrations.findStoredTokensAfter(id - 1, 1)).toEqual([{ id, stored: '' }]);
  });
});
