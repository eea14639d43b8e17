import { RECEIVED_PUSHES_TABLE, ReceivedPushEntity, ReceivedPushRepository } from '@app/database';
import { QueryFailedError } from 'typeorm';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const T = 1_700_000_000_000;

/** The Web Pushes the api stores and the listener relays, on the real database of the run. */
describe('received pushes (real database)', () => {
  let db: TestDatabase;
  let pushes: ReceivedPushRepository;

  beforeAll(async () => {
    db = await createTestDatabase();
    pushes = new ReceivedPushRepository(db.dataSource.getRepository(ReceivedPushEntity));
  });

  afterAll(async () => {
    await db?.drop();
  });

  beforeEach(async () => {
    await db.query(`DELETE FROM ${RECEIVED_PUSHES_TABLE}`);
  });

  const pending = () => pushes.findPendingAfter('0', 100);
  const notificationIds = async () => (await pending()).map((p) => p.notificationId);

  it('stores a push once: the same notification again for that registration is a replay', async () => {
    expect(await pushes.store(1, 'n1', T)).toBe('stored');
    expect(await pushes.store(1, 'n1', T + 5)).toBe('replay');
    expect(await pushes.store(2, 'n1', T + 6)).toBe('stored');

    const [first, second] = await pending();
    expect(first).toEqual({
      id: expect.any(String),
      registrationId: 1,
      notificationId: 'n1',
      receivedAt: T,
    });
    expect(second).toMatchObject({ registrationId: 2, notificationId: 'n1', receivedAt: T + 6 });
    expect(await pending()).toHaveLength(2);
  });

  it('passes on a database error that is no replay, even when the registration has pushes', async () => {
    await pushes.store(1, 'n1', T);
    await expect(pushes.store(1, 'x'.repeat(65), T)).rejects.toBeInstanceOf(QueryFailedError);
    expect(await notificationIds()).toEqual(['n1']);
  });

  it('reads the pushes not relayed yet after an id, oldest first, up to the limit', async () => {
    for (const n of [1, 2, 3, 4, 5]) await pushes.store(n, `n${n}`, T + n);
    const [p1, p2, p3] = await pending();
    await pushes.markRelayed([p2.id], T + 100);
    // a row rewritten in place moves to the end of PostgreSQL's heap: the order comes from the ids
    await db.query(`UPDATE ${RECEIVED_PUSHES_TABLE} SET "receivedAt" = "receivedAt" WHERE id = ?`, [
      p1.id,
    ]);

    expect(await notificationIds()).toEqual(['n1', 'n3', 'n4', 'n5']);
    expect((await pushes.findPendingAfter(p1.id, 2)).map((p) => p.notificationId)).toEqual([
      'n3',
      'n4',
    ]);
    expect((await pushes.findPendingAfter(p3.id, 100)).map((p) => p.notificationId)).toEqual([
      'n4',
      'n5',
    ]);
  });

  it('stamps the relayed pushes alone with the time; no ids stamps nothing', async () => {
    for (const n of [1, 2, 3]) await pushes.store(n, `n${n}`, T);
    const [p1, p2] = await pending();
    await pushes.markRelayed([p1.id, p2.id], T + 42);
    await pushes.markRelayed([], T + 43);

    const rows = await db.query<{ id: string | number; relayedAt: string | number | null }>(
      `SELECT id, "relayedAt" FROM ${RECEIVED_PUSHES_TABLE} ORDER BY id`,
    );
    expect(rows.map((r) => (r.relayedAt === null ? null : Number(r.relayedAt)))).toEqual([
      T + 42,
      T + 42,
      null,
    ]);
    expect(await notificationIds()).toEqual(['n3']);
  });

  it('purges the pushes received before a time, relayed or not, and says how many', async () => {
    await pushes.store(1, 'old', T - 1);
    await pushes.store(2, 'older', T - 2);
    await pushes.store(3, 'at', T);
    await pushes.store(4, 'new', T + 1);
    await pushes.markRelayed([(await pending())[0].id], T);

    expect(await pushes.purgeReceivedBefore(T)).toBe(2);
    expect(await notificationIds()).toEqual(['at', 'new']);
    expect(await pushes.purgeReceivedBefore(T)).toBe(0);
  });

  it('deletes the pushes of one registration and keeps the others', async () => {
    await pushes.store(1, 'a', T);
    await pushes.store(2, 'b', T);
    await pushes.store(1, 'c', T);
    await pushes.deleteByRegistration(1);

    expect(await notificationIds()).toEqual(['b']);
    // the notification may come again for that registration
    expect(await pushes.store(1, 'a', T + 1)).toBe('stored');
  });
});
