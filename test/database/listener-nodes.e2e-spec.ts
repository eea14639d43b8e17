import {
  LISTENER_NODES_TABLE,
  ListenerNode,
  ListenerNodeEntity,
  ListenerNodeRepository,
} from '@app/database';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const T = 1_700_000_000_000;

/** The listener cluster's membership rows, on the real database of the run. */
describe('listener nodes (real database)', () => {
  let db: TestDatabase;
  let nodes: ListenerNodeRepository;

  beforeAll(async () => {
    db = await createTestDatabase();
    nodes = new ListenerNodeRepository(db.dataSource.getRepository(ListenerNodeEntity));
  });

  afterAll(async () => {
    await db?.drop();
  });

  beforeEach(async () => {
    await db.query(`DELETE FROM ${LISTENER_NODES_TABLE}`);
  });

  const node = (
    id: string,
    heartbeatAt: number,
    change: Partial<ListenerNode> = {},
  ): ListenerNode => ({
    id,
    startedAt: T,
    heartbeatAt,
    leaving: 0,
    view: `view-${id}`,
    streamsOpen: 0,
    ...change,
  });
  const sorted = (rows: ListenerNode[]) => [...rows].sort((a, b) => a.id.localeCompare(b.id));

  it('writes a node row on its first heartbeat and rewrites only that row on the next ones', async () => {
    await nodes.heartbeat(node('a', T));
    await nodes.heartbeat(node('b', T + 1));
    expect(sorted(await nodes.findAll())).toEqual([node('a', T), node('b', T + 1)]);

    const later = node('a', T + 5_000, { leaving: 1, view: 'view-ab', streamsOpen: 12 });
    await nodes.heartbeat(later);
    // the same values again: still one row
    await nodes.heartbeat(later);
    expect(sorted(await nodes.findAll())).toEqual([later, node('b', T + 1)]);
  });

  it('forgets the nodes silent since before a time and says how many', async () => {
    await nodes.heartbeat(node('dead', T - 2));
    await nodes.heartbeat(node('also-dead', T - 1));
    await nodes.heartbeat(node('at-cutoff', T));

    expect(await nodes.deleteSilentSince(T)).toBe(2);
    expect(await nodes.findAll()).toEqual([node('at-cutoff', T)]);
    expect(await nodes.deleteSilentSince(T)).toBe(0);
  });

  it('deletes one node by id and keeps the others', async () => {
    await nodes.heartbeat(node('leaving', T));
    await nodes.heartbeat(node('staying', T));
    await nodes.delete('leaving');

    expect(await nodes.findAll()).toEqual([node('staying', T)]);
  });
});
