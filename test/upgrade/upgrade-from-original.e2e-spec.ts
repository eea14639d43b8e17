import { QueryFailedError } from 'typeorm';
import { REGISTRATIONS_TABLE, RegistrationEntity, runMigrations } from '@app/database';
import { hashSecret } from '@app/security';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { createOriginalTable, insertOriginalRow, OriginalRow } from './original-table';

const base: OriginalRow = {
  lastUpdate: 1_600_000_000_000,
  instanceUrl: 'https://mastodon.example',
  accessToken: 'token-a',
  appId: 'jp.juggler.subwaytooter',
  appSecret: 'plain-secret',
  callbackUrl: 'https://push.example/callback',
  tag: 'user-a',
  endpoint: null,
};

describe.each([
  ['with the unique index', true],
  ['without the unique index (duplicates possible)', false],
])('upgrading the original table %s', (_label, withUniqueIndex) => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    await createOriginalTable(db.dataSource, withUniqueIndex);
    await insertOriginalRow(db.dataSource, base);
    await insertOriginalRow(db.dataSource, { ...base, tag: 'user-b', accessToken: 'token-b', endpoint: 'user' });
    await insertOriginalRow(db.dataSource, { ...base, instanceUrl: 'https://other.example', accessToken: 'token-c' });
    if (!withUniqueIndex) {
      // the same key twice: the newer row (higher lastUpdate) must survive, wherever it sits
      await insertOriginalRow(db.dataSource, { ...base, lastUpdate: base.lastUpdate + 5_000, accessToken: 'token-a-newer' });
      await insertOriginalRow(db.dataSource, { ...base, lastUpdate: base.lastUpdate - 5_000, accessToken: 'token-a-older' });
    }
    await runMigrations(db.settings, () => undefined);
  });

  afterAll(async () => {
    await db?.drop();
  });

  const rows = () => db.dataSource.getRepository(RegistrationEntity).find({ order: { id: 'ASC' } });

  it('keeps every registration, merging duplicates to the newest', async () => {
    const all = await rows();
    expect(all.map((r) => [r.instanceUrl, r.tag, r.accessToken]).sort()).toEqual(
      [
        ['https://mastodon.example', 'user-a', withUniqueIndex ? 'token-a' : 'token-a-newer'],
        ['https://mastodon.example', 'user-b', 'token-b'],
        ['https://other.example', 'user-a', 'token-c'],
      ].sort(),
    );
    expect(all.find((r) => r.tag === 'user-b')?.endpoint).toBe('user');
  });

  it('replaces plain-text app secrets with their hash', async () => {
    for (const row of await rows()) expect(row.appSecret).toBe(hashSecret('plain-secret'));
  });

  it('ends with the unique index on (instanceUrl, appId, tag)', async () => {
    const runner = db.dataSource.createQueryRunner();
    try {
      const table = await runner.getTable(REGISTRATIONS_TABLE);
      const key = table?.indices.find((i) => i.isUnique && i.columnNames.length === 3);
      expect(key?.columnNames.sort()).toEqual(['appId', 'instanceUrl', 'tag']);
    } finally {
      await runner.release();
    }
    await expect(insertOriginalRow(db.dataSource, base)).rejects.toBeInstanceOf(QueryFailedError);
  });

  it('accepts new rows written by this project (timestamps filled by the database)', async () => {
    const repo = db.dataSource.getRepository(RegistrationEntity);
    await repo.insert({ ...base, tag: 'user-new', appSecret: hashSecret('s') });
    const created = await repo.findOneByOrFail({ tag: 'user-new' });
    expect(created.createdAt).toBeInstanceOf(Date);
    expect(Number.isNaN(created.createdAt.getTime())).toBe(false);
  });

  it('is idempotent: running the migrations again changes nothing', async () => {
    const before = await rows();
    await runMigrations(db.settings, () => undefined);
    expect(await rows()).toEqual(before);
  });
});
