import * as os from 'node:os';
import { Logger } from '@nestjs/common';
import { Settings } from '@app/config';
import { ListenerNode, ListenerNodeRepository } from '@app/database';
import { strictStub } from '../../../../test/support/strict-stub';
import { MembershipService } from './membership.service';
import { viewFingerprint } from './rendezvous';

// a host name longer than a node id may hold
jest.mock('node:os', () => ({
  ...jest.requireActual<typeof os>('node:os'),
  hostname: () => 'a-very-long-host-name-of-a-listener-machine.cluster.example',
}));

const TIMEOUT_MS = 15_000;
const POLL_MS = 5_000;
const settings = {
  listener: { nodeTimeoutMs: TIMEOUT_MS, pollIntervalMs: POLL_MS },
} as unknown as Settings;
const ids = Array.from({ length: 200 }, (_, i) => i + 1);

/** `stream_listener_nodes` in memory, behind a strict ListenerNodeRepository. */
function nodeTable() {
  const rows = new Map<string, ListenerNode>();
  const repository = strictStub<ListenerNodeRepository>('ListenerNodeRepository', {
    heartbeat: jest.fn((node: ListenerNode) => {
      rows.set(node.id, { ...node });
      return Promise.resolve();
    }),
    findAll: () => Promise.resolve([...rows.values()].map((row) => ({ ...row }))),
    deleteSilentSince: jest.fn((cutoff: number) => {
      let removed = 0;
      for (const [id, row] of rows)
        if (row.heartbeatAt < cutoff) {
          rows.delete(id);
          removed++;
        }
      return Promise.resolve(removed);
    }),
    delete: jest.fn((id: string) => {
      rows.delete(id);
      return Promise.resolve();
    }),
  });
  /** A row written by another listener process. */
  const peer = (id: string, heartbeatAt: number, fields: Partial<ListenerNode> = {}) =>
    rows.set(id, {
      id,
      startedAt: 0,
      heartbeatAt,
      leaving: 0,
      view: '',
      streamsOpen: 0,
      ...fields,
    });
  return { rows, repository, peer };
}

const owned = (node: MembershipService) => ids.filter((id) => node.owns(id));
const fingerprintOf = (...nodeIds: string[]) => viewFingerprint([...nodeIds].sort());

describe('MembershipService', () => {
  let table: ReturnType<typeof nodeTable>;
  let a: MembershipService;

  beforeAll(() => {
    Logger.overrideLogger(false);
  });
  afterAll(() => {
    Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose']);
  });

  beforeEach(() => {
    table = nodeTable();
    a = new MembershipService(table.repository, settings);
  });

  it('is known by its host name, cut to fit, its process id and a suffix unique to this start', () => {
    const b = new MembershipService(table.repository, settings);
    expect(a.nodeId.length).toBeLessThanOrEqual(64);
    expect(a.nodeId.startsWith(`${os.hostname().slice(0, 40)}-${process.pid}-`)).toBe(true);
    expect(b.nodeId).not.toBe(a.nodeId);
  });

  it('owns nothing and opens no limited connection before its first refresh', () => {
    expect(a.members).toEqual([]);
    expect(owned(a)).toEqual([]);
    expect(a.maySend(1)).toBe(false);
    expect(a.connectionShare(10)).toBe(0);
    expect(a.openingShare(4)).toBe(4);
    expect(a.isCutOff(Date.now() + 10 * TIMEOUT_MS)).toBe(false);
  });

  it('reads no limit for an absent, zero, negative or infinite limit', async () => {
    for (const limit of [undefined, 0, -3, Number.POSITIVE_INFINITY, Number.NaN])
      expect(a.connectionShare(limit)).toBeUndefined();
    await a.refresh();
    for (const limit of [undefined, 0, -3, Number.POSITIVE_INFINITY])
      expect(a.connectionShare(limit)).toBeUndefined();
  });

  it('alone, owns every registration and the whole of every limit', async () => {
    expect(await a.refresh()).toEqual({ changed: true, agreedNow: true });
    expect(a.members).toEqual([a.nodeId]);
    expect(owned(a)).toEqual(ids);
    expect(a.maySend(5)).toBe(true);
    expect(a.connectionShare(7)).toBe(7);
    expect(a.openingShare(3)).toBe(3);
    expect(await a.refresh()).toEqual({ changed: false, agreedNow: false });
  });

  it('splits the registrations between live listeners, each owned by exactly one', async () => {
    const b = new MembershipService(table.repository, settings);
    await a.refresh();
    await a.publish(0);
    await b.refresh();
    await b.publish(0);
    expect((await a.refresh()).changed).toBe(true);
    expect(a.members).toEqual([a.nodeId, b.nodeId].sort());
    expect(b.members).toEqual(a.members);
    const ofA = owned(a);
    const ofB = owned(b);
    expect(ofA.length).toBeGreaterThan(50);
    expect(ofB.length).toBeGreaterThan(50);
    expect([...ofA, ...ofB].sort((x, y) => x - y)).toEqual(ids);
  });

  it('takes a listener for dead once its heartbeat is older than LISTENER_NODE_TIMEOUT_MS', async () => {
    const now = Date.now();
    table.peer('node-b', now - TIMEOUT_MS);
    await a.refresh(now);
    expect(a.members).toHaveLength(2);
    const shared = owned(a);
    expect(shared.length).toBeLessThan(ids.length);

    expect(await a.refresh(now + 1)).toEqual({ changed: true, agreedNow: true });
    expect(a.members).toEqual([a.nodeId]);
    expect(owned(a)).toEqual(ids);
  });

  it('gives nothing to a listener that is leaving', async () => {
    const now = Date.now();
    table.peer('node-b', now, { leaving: 1 });
    await a.refresh(now);
    expect(a.members).toEqual([a.nodeId]);
    expect(owned(a)).toEqual(ids);
  });

  it('forgets the rows of listeners silent for ten timeouts, and only those', async () => {
    const now = Date.now();
    table.peer('long-gone', now - 10 * TIMEOUT_MS - 1);
    table.peer('recently-dead', now - 10 * TIMEOUT_MS);
    await a.refresh(now);
    expect([...table.rows.keys()].sort()).toEqual(['recently-dead']);
    expect(a.members).toEqual([a.nodeId]);
  });

  it('asks the database to forget nothing while every row is recent', async () => {
    const now = Date.now();
    table.peer('node-b', now - 10 * TIMEOUT_MS);
    await a.refresh(now);
    expect(table.repository.deleteSilentSince).not.toHaveBeenCalled();
  });

  describe('a registration moving to a joining listener', () => {
    let b: MembershipService;
    let moved: number;

    beforeEach(async () => {
      await a.refresh();
      await a.publish(3);
      b = new MembershipService(table.repository, settings);
      await b.refresh();
      await b.publish(0);
      moved = owned(b)[0];
    });

    it('waits for the previous holder to publish the new view', async () => {
      expect(b.owns(moved)).toBe(true);
      expect(b.takingOver(moved)).toBe(true);
      expect(b.maySend(moved)).toBe(false);
      expect(b.handoversPending).toBe(1);
      expect(b.settledHandovers()).toEqual([]);

      await a.refresh();
      await a.publish(2);
      await b.refresh();
      expect(b.settledHandovers()).toEqual([moved]);
      expect(b.maySend(moved)).toBe(false);
      b.settle([moved]);
      expect(b.maySend(moved)).toBe(true);
      expect(b.handoversPending).toBe(0);
    });

    it('settles when the previous holder is dead or gone, not while it is leaving', async () => {
      b.takingOver(moved);
      table.rows.get(a.nodeId)!.leaving = 1;
      table.rows.get(a.nodeId)!.view = fingerprintOf(b.nodeId);
      await b.refresh();
      expect(b.settledHandovers()).toEqual([]);

      const heartbeatAt = table.rows.get(a.nodeId)!.heartbeatAt;
      expect(b.settledHandovers(heartbeatAt + TIMEOUT_MS)).toEqual([]);
      expect(b.settledHandovers(heartbeatAt + TIMEOUT_MS + 1)).toEqual([moved]);

      table.rows.delete(a.nodeId);
      await b.refresh();
      expect(b.settledHandovers()).toEqual([moved]);
    });

    it('takes over from nobody when the previous holder is gone', async () => {
      const ofA = owned(a);
      table.rows.delete(a.nodeId);
      await b.refresh();
      expect(owned(b)).toEqual(ids);
      expect(ofA.map((id) => b.takingOver(id))).not.toContain(true);
      expect(b.handoversPending).toBe(0);
    });

    it('waits for nobody when the previous holder is already dead', async () => {
      // b's last read still counts a among the members, but a is silent by now
      const silentSince = Date.now() - TIMEOUT_MS - 1_000;
      table.rows.get(a.nodeId)!.heartbeatAt = silentSince;
      expect((await b.refresh(silentSince)).changed).toBe(false);
      expect(b.takingOver(moved)).toBe(false);
      expect(b.maySend(moved)).toBe(true);
      expect(b.handoversPending).toBe(0);
    });

    it('waits for nothing once the stream is dropped again', () => {
      b.takingOver(moved);
      b.dropped(moved);
      expect(b.handoversPending).toBe(0);
      expect(b.maySend(moved)).toBe(true);
    });

    it('takes nothing over from itself, nor from before the first view', async () => {
      const alone = new MembershipService(nodeTable().repository, settings);
      await alone.refresh();
      expect(alone.takingOver(1)).toBe(false);

      // b's own registrations stay its own when a third listener joins
      await a.refresh();
      await a.publish(1);
      table.peer('node-c', Date.now());
      await b.refresh();
      const kept = owned(b).filter((id) => !a.owns(id));
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.map((id) => b.takingOver(id))).not.toContain(true);
    });
  });

  describe('limit shares', () => {
    it('a joining listener takes nothing until the others have seen it', async () => {
      await a.refresh();
      await a.publish(0);
      const b = new MembershipService(table.repository, settings);
      expect(await b.refresh()).toEqual({ changed: true, agreedNow: false });
      await b.publish(0);
      expect(b.connectionShare(5)).toBe(0);
      expect(b.openingShare(5)).toBeGreaterThanOrEqual(2);

      // a sees b: its part is cut at once, to the even split
      expect(await a.refresh()).toEqual({ changed: true, agreedNow: true });
      await a.publish(0);
      const splitOfA = a.connectionShare(5)!;
      expect(b.connectionShare(5)).toBe(0);

      expect(await b.refresh()).toEqual({ changed: false, agreedNow: true });
      expect(splitOfA + b.connectionShare(5)!).toBe(5);
      expect([splitOfA, b.connectionShare(5)].sort()).toEqual([2, 3]);
      expect(a.openingShare(5) + b.openingShare(5)).toBe(5);
    });

    it('takes no more than the split last agreed on until the others see the change', async () => {
      const now = Date.now();
      const three = fingerprintOf(a.nodeId, 'node-b', 'node-c');
      table.peer('node-b', now + TIMEOUT_MS, { view: three });
      table.peer('node-c', now, { view: three });
      expect(await a.refresh(now)).toEqual({ changed: true, agreedNow: true });
      expect(a.connectionShare(9)).toBe(3);

      // node-c dies: a's even split grows to 4 or 5, but node-b still holds its 3 of three
      const later = now + TIMEOUT_MS + 1;
      expect(await a.refresh(later)).toEqual({ changed: true, agreedNow: false });
      expect(a.connectionShare(9)).toBe(3);

      table.rows.get('node-b')!.view = fingerprintOf(a.nodeId, 'node-b');
      expect(await a.refresh(later)).toEqual({ changed: false, agreedNow: true });
      expect([4, 5]).toContain(a.connectionShare(9));
    });

    it('holds back while a live listener is leaving, even if it publishes the same view', async () => {
      await a.refresh();
      await a.publish(0);
      const b = new MembershipService(table.repository, settings);
      await b.refresh();
      table.rows.get(a.nodeId)!.view = fingerprintOf(b.nodeId);
      table.rows.get(a.nodeId)!.leaving = 1;
      expect(await b.refresh()).toEqual({ changed: true, agreedNow: false });
      expect(b.connectionShare(4)).toBe(0);
    });

    it('gives every listener one handshake at least', async () => {
      const now = Date.now();
      // ids that sort before any host name: this listener is last, its even split of 1 is 0
      table.peer('!node-b', now, { view: 'x' });
      table.peer('!node-c', now, { view: 'x' });
      await a.refresh(now);
      expect(a.openingShare(1)).toBe(1);
      expect(a.openingShare(6)).toBe(2);
    });
  });

  describe('cut off', () => {
    it('is cut off when its heartbeat has not been written for twice the timeout', async () => {
      table.peer('node-b', Date.now() + 60_000);
      await a.refresh();
      expect(a.isCutOff(Date.now() + 60_000)).toBe(false);
      await a.publish(0);
      const writtenAt = table.rows.get(a.nodeId)!.heartbeatAt;
      // the others take over after one timeout: until twice that, this node may be merely slow
      expect(a.isCutOff(writtenAt + 2 * TIMEOUT_MS - 1)).toBe(false);
      expect(a.isCutOff(writtenAt + 2 * TIMEOUT_MS)).toBe(true);
    });

    it('is never cut off alone', async () => {
      await a.refresh();
      await a.publish(0);
      const writtenAt = table.rows.get(a.nodeId)!.heartbeatAt;
      expect(a.isCutOff(writtenAt + 100 * TIMEOUT_MS)).toBe(false);
    });

    it('is cut off from the last heartbeat that was written, not the last one tried', async () => {
      table.peer('node-b', Date.now() + 60_000);
      await a.refresh();
      await a.publish(0);
      const writtenAt = table.rows.get(a.nodeId)!.heartbeatAt;
      (table.repository.heartbeat as jest.Mock).mockRejectedValueOnce(new Error('down'));
      await expect(a.publish(0)).rejects.toThrow('down');
      expect(a.isCutOff(writtenAt + 2 * TIMEOUT_MS)).toBe(true);
    });
  });

  describe('heartbeats', () => {
    it('publishes an empty view before its first refresh', async () => {
      await a.publish(0);
      expect(table.rows.get(a.nodeId)).toMatchObject({ view: '', leaving: 0, streamsOpen: 0 });
    });

    it('publishes the view acted upon, with the streams open', async () => {
      await a.refresh();
      a.beat(4);
      await new Promise((resolve) => setImmediate(resolve));
      expect(table.rows.has(a.nodeId)).toBe(false);
      await a.publish(4);
      expect(table.rows.get(a.nodeId)).toMatchObject({
        leaving: 0,
        view: fingerprintOf(a.nodeId),
        streamsOpen: 4,
      });
      a.beat(9);
      await new Promise((resolve) => setImmediate(resolve));
      expect(table.rows.get(a.nodeId)!.streamsOpen).toBe(9);
    });

    it('writes one heartbeat at a time, skipping a beat while one is in flight', async () => {
      await a.refresh();
      await a.publish(1);
      let release!: () => void;
      const heartbeat = table.repository.heartbeat as jest.Mock;
      heartbeat.mockImplementationOnce(
        (node: ListenerNode) =>
          new Promise<void>((resolve) => {
            release = () => {
              table.rows.set(node.id, { ...node });
              resolve();
            };
          }),
      );
      const calls = heartbeat.mock.calls.length;
      a.beat(2);
      await new Promise((resolve) => setImmediate(resolve));
      a.beat(3);
      const publishing = a.publish(5);
      await new Promise((resolve) => setImmediate(resolve));
      expect(heartbeat.mock.calls.length).toBe(calls + 1);
      release();
      await publishing;
      expect(heartbeat.mock.calls.length).toBe(calls + 2);
      expect(table.rows.get(a.nodeId)!.streamsOpen).toBe(5);
    });

    it('skips a beat while a later heartbeat is in flight, once an earlier one finished', async () => {
      await a.refresh();
      await a.publish(1);
      const heartbeat = table.repository.heartbeat as jest.Mock;
      const releases: (() => void)[] = [];
      heartbeat.mockImplementation(
        (node: ListenerNode) =>
          new Promise<void>((resolve) =>
            releases.push(() => {
              table.rows.set(node.id, { ...node });
              resolve();
            }),
          ),
      );
      const tick = () => new Promise((resolve) => setImmediate(resolve));
      const first = a.publish(2);
      await tick();
      // both wait for the first, then write at once
      const second = a.publish(3);
      const third = a.publish(4);
      releases[0]();
      await first;
      await tick();
      expect(releases).toHaveLength(3);
      releases[1]();
      await second;
      a.beat(5);
      await tick();
      expect(releases).toHaveLength(3);
      releases[2]();
      await third;
      expect(table.rows.get(a.nodeId)!.streamsOpen).toBe(4);
    });

    it('logs a heartbeat that could not be written', async () => {
      await a.refresh();
      await a.publish(1);
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      (table.repository.heartbeat as jest.Mock).mockRejectedValueOnce(new Error('db down'));
      a.beat(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warn).toHaveBeenCalledWith('heartbeat not written: db down');
      warn.mockRestore();
    });

    it('after a reset, owns nothing and publishes no view until the next pass', async () => {
      await a.refresh();
      await a.publish(1);
      a.reset();
      expect(owned(a)).toEqual([]);
      expect(a.connectionShare(3)).toBe(0);
      const calls = (table.repository.heartbeat as jest.Mock).mock.calls.length;
      a.beat(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect((table.repository.heartbeat as jest.Mock).mock.calls.length).toBe(calls);
      expect((await a.refresh()).changed).toBe(true);
      expect(owned(a)).toEqual(ids);
    });
  });

  describe('leaving', () => {
    it('owns nothing once leaving, and says so in its row', async () => {
      await a.refresh();
      await a.markLeaving(2);
      expect(table.rows.get(a.nodeId)!.leaving).toBe(1);
      await a.refresh();
      expect(owned(a)).toEqual([]);
      expect(a.members).toEqual([]);
    });

    it('owns nothing once leaving even when its row could not say so yet', async () => {
      await a.refresh();
      await a.publish(2);
      (table.repository.heartbeat as jest.Mock).mockRejectedValueOnce(new Error('db down'));
      await expect(a.markLeaving(2)).rejects.toThrow('db down');
      expect(table.rows.get(a.nodeId)!.leaving).toBe(0);
      await a.refresh();
      expect(owned(a)).toEqual([]);
    });

    it('knows the others took over once each publishes the view without it', async () => {
      const b = new MembershipService(table.repository, settings);
      await a.refresh();
      await a.publish(0);
      await b.refresh();
      await b.publish(0);
      await a.markLeaving(3);
      expect(await a.othersTookOver()).toBe(false);
      await b.refresh();
      await b.publish(0);
      expect(await a.othersTookOver()).toBe(true);
    });

    it('counts neither dead nor leaving listeners among those that must take over', async () => {
      const now = Date.now();
      await a.markLeaving(0);
      expect(await a.othersTookOver(now)).toBe(true);
      table.peer('dead', now - TIMEOUT_MS - 1, { view: 'old' });
      table.peer('leaving', now, { view: 'old', leaving: 1 });
      expect(await a.othersTookOver(now)).toBe(true);
      table.peer('live', now, { view: 'old' });
      expect(await a.othersTookOver(now)).toBe(false);
      table.rows.get('live')!.view = fingerprintOf('live');
      expect(await a.othersTookOver(now)).toBe(true);
    });

    it('compares with the view of the others whatever order their rows come in', async () => {
      const now = Date.now();
      await a.markLeaving(0);
      const both = fingerprintOf('live-a', 'live-b');
      table.peer('live-b', now, { view: both });
      table.peer('live-a', now, { view: both });
      expect(await a.othersTookOver(now)).toBe(true);
    });

    it('counts only the others, whether or not it marked itself leaving', async () => {
      await a.refresh();
      await a.publish(0);
      table.peer('node-b', Date.now(), { view: fingerprintOf('node-b') });
      expect(await a.othersTookOver()).toBe(true);
    });

    it('removes its row at shutdown and writes no heartbeat after', async () => {
      await a.refresh();
      await a.publish(1);
      await a.onApplicationShutdown();
      expect(table.rows.has(a.nodeId)).toBe(false);
      a.beat(1);
      await a.publish(1);
      expect(table.rows.has(a.nodeId)).toBe(false);
    });

    it('removes its row only after a heartbeat in flight, which would write it again', async () => {
      await a.refresh();
      await a.publish(1);
      let release!: () => void;
      (table.repository.heartbeat as jest.Mock).mockImplementationOnce(
        (node: ListenerNode) =>
          new Promise<void>((resolve) => {
            release = () => {
              table.rows.set(node.id, { ...node });
              resolve();
            };
          }),
      );
      a.beat(1);
      await new Promise((resolve) => setImmediate(resolve));
      const stopping = a.onApplicationShutdown();
      await new Promise((resolve) => setImmediate(resolve));
      release();
      await stopping;
      expect(table.rows.has(a.nodeId)).toBe(false);
    });

    it('shuts down even when its row cannot be removed', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      (table.repository.delete as jest.Mock).mockRejectedValueOnce(new Error('db down'));
      await expect(a.onApplicationShutdown()).resolves.toBeUndefined();
      expect(warn).toHaveBeenCalledWith(
        expect.stringContaining('membership row not removed (db down)'),
      );
      warn.mockRestore();
    });
  });
});
