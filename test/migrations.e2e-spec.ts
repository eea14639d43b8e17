import {
  DELIVERIES_TABLE,
  PUSH_ID_INDEX,
  PUSH_SUBSCRIPTIONS_TABLE,
  RECEIVED_PUSH_KEY_INDEX,
  RECEIVED_PUSHES_TABLE,
  REGISTRATIONS_TABLE,
} from '@app/database';
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
        [
          ...['accessToken', 'appId', 'appSecret', 'callbackUrl', 'createdAt', 'endpoint', 'id', 'instanceUrl', 'lastNotificationId', 'lastUpdate', 'tag', 'updatedAt'],
          ...['state', 'stateSince', 'lastError', 'lastRelayedAt', 'heldBy', 'endpointInUse', 'removalReason'],
          'transport',
        ].sort(),
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

  it('creates the Web Push tables: one subscription per registration with a unique push id, one received push per notification', async () => {
    const runner = db.dataSource.createQueryRunner();
    try {
      const subscriptions = await runner.getTable(PUSH_SUBSCRIPTIONS_TABLE);
      expect(subscriptions?.primaryColumns.map((c) => c.name)).toEqual(['registrationId']);
      const pushId = subscriptions?.indices.find((i) => i.name === PUSH_ID_INDEX);
      expect(pushId?.isUnique).toBe(true);
      expect(pushId?.columnNames).toEqual(['pushId']);
      expect(subscriptions?.findColumnByName('serverKey')?.isNullable).toBe(true);
      const received = await runner.getTable(RECEIVED_PUSHES_TABLE);
      const key = received?.indices.find((i) => i.name === RECEIVED_PUSH_KEY_INDEX);
      expect(key?.isUnique).toBe(true);
      expect(key?.columnNames.sort()).toEqual(['notificationId', 'registrationId']);
      expect(received?.findColumnByName('relayedAt')?.isNullable).toBe(true);
    } finally {
      await runner.release();
    }
  });
});
