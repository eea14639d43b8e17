import { DELIVERIES_TABLE, REGISTRATIONS_TABLE } from '@app/database';
import { createTestDatabase, TestDatabase } from './support/test-database';

describe('migrations on a fresh database', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('creates the registrations table with the unique key index and the delivery queue', async () => {
    const runner = db.dataSource.createQueryRunner();
    try {
      const registrations = await runner.getTable(REGISTRATIONS_TABLE);
      expect(registrations?.columns.map((c) => c.name).sort()).toEqual(
        ['accessToken', 'appId', 'appSecret', 'callbackUrl', 'createdAt', 'endpoint', 'id', 'instanceUrl', 'lastNotificationId', 'lastUpdate', 'tag', 'updatedAt'].sort(),
      );
      const key = registrations?.indices.find((i) => i.name === 'iat');
      expect(key?.isUnique).toBe(true);
      expect(key?.columnNames.sort()).toEqual(['appId', 'instanceUrl', 'tag']);
      expect(await runner.hasTable(DELIVERIES_TABLE)).toBe(true);
      const cursor = registrations?.findColumnByName('lastNotificationId');
      expect(cursor?.isNullable).toBe(true);
      expect(cursor?.length).toBe('64');
    } finally {
      await runner.release();
    }
  });
});
