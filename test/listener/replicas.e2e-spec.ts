import { Rendezvous } from '../../apps/listener/src/membership/rendezvous';
import { CHANGE_OVERLAP_MS } from '../../apps/listener/src/reconcile/reconcile.service';
import type { AppProcess } from '../support/app-process';
import type { FakeMastodon } from '../support/fake-mastodon';
import { waitFor } from '../support/wait-for';
import { ListenerHarness } from './listener-harness';

/**
 * Several real listener processes on one database: every stream held once,
 * a joining listener takes its share (only those streams move), a SIGKILLed
 * one is replaced, a SIGTERMed one hands over without a gap, and a
 * per-instance maxConnections holds for the whole cluster.
 */
const STREAMS = 24;
const LIMITED = 32;
const LIMIT = 3;
const TOKENS = Array.from({ length: STREAMS }, (_, i) => `replica-token-${i}`);
const LIMITED_TOKENS = Array.from({ length: LIMITED }, (_, i) => `limited-token-${i}`);
/** Short, so a dead listener is replaced within seconds; long enough for passes on a loaded machine (polls every 200 ms). */
const NODE_TIMEOUT_MS = 6_000;

interface NodeRow {
  id: string;
  heartbeatAt: number | string;
  leaving: number | string;
  view: string;
}

describe('listener replicas: one database, many listeners', () => {
  let h: ListenerHarness;
  let alpha: FakeMastodon;
  let limited: FakeMastodon;
  const live: AppProcess[] = [];

  /** Streams a listener process holds open (its msl_streams_open), for one instance or all. */
  async function openStreams(app: AppProcess, instance?: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${app.env.LISTENER_PORT}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith('msl_streams_open{')) continue;
      if (instance && !line.includes(`instance="${h.instanceUrl(instance)}"`)) continue;
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  /** Every alpha registration has exactly one open stream at the fake instance. */
  function heldOnce(): boolean {
    const counts = alpha.openCountByToken();
    return counts.size === STREAMS && TOKENS.every((token) => counts.get(token) === 1);
  }

  async function nodes(): Promise<NodeRow[]> {
    const rows: NodeRow[] = await h.db.dataSource.query(
      h.sql('SELECT id, "heartbeatAt", "leaving", "view" FROM stream_listener_nodes'),
    );
    // a SIGKILLed listener's row stays until it is long dead
    return rows.filter((row) => Number(row.heartbeatAt) >= Date.now() - NODE_TIMEOUT_MS);
  }

  /** Every live listener has a fresh row, none is leaving, and all publish the same view. */
  async function membersAgree(count: number): Promise<boolean> {
    const rows = await nodes();
    return (
      rows.length === count &&
      rows.every((row) => Number(row.leaving) === 0 && row.view === rows[0].view)
    );
  }

  /**
   * How many alpha streams each live listener owns by rendezvous hashing over
   * their ids, smallest first (a listener may own none of 24: about 1 in 300
   * draws of four ids).
   */
  async function expectedShares(): Promise<number[]> {
    const ring = new Rendezvous((await nodes()).map((row) => row.id));
    const rows: { id: number | string }[] = await h.db.dataSource.query(
      h.sql('SELECT id FROM stream_listener_registrations WHERE "instanceUrl" = ?'),
      [h.instanceUrl('alpha')],
    );
    const owned = new Map(ring.ids.map((id) => [id, 0]));
    for (const row of rows) {
      const owner = ring.ownerOf(Number(row.id))!;
      owned.set(owner, owned.get(owner)! + 1);
    }
    return [...owned.values()].sort((a, b) => a - b);
  }

  /** The steady state: each stream once, each listener the share its id wins, the limited instance at its limit. */
  async function steady(what: string): Promise<number[]> {
    let shares: number[] = [];
    let state = '';
    await waitFor(
      async () => {
        const agree = await membersAgree(live.length);
        shares = await Promise.all(live.map((app) => openStreams(app, 'alpha')));
        const expected = await expectedShares();
        const counts = [...alpha.openCountByToken().values()].join(',');
        state = `held per token [${counts}], limited ${limited.openCount}, members agree ${agree}, shares [${shares.join(', ')}], owned by hashing [${expected.join(', ')}]`;
        if (!heldOnce() || limited.openCount !== LIMIT || !agree) return false;
        return (
          [...shares].sort((a, b) => a - b).join() === expected.join() &&
          shares.reduce((a, b) => a + b, 0) === STREAMS
        );
      },
      { timeoutMs: 30_000, what },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last seen: ${state}`);
    });
    return shares;
  }

  /** Makes a notification for every alpha registration every 50 ms (stored and streamed, as Mastodon does). */
  function notifyAll(): { made: Map<string, string[]>; unheld: string[]; stop: () => void } {
    const made = new Map<string, string[]>(TOKENS.map((token) => [token, []]));
    const unheld: string[] = [];
    const timer = setInterval(() => {
      const open = alpha.openCountByToken();
      for (const token of TOKENS) {
        if (!open.get(token)) unheld.push(token);
        made.get(token)!.push(alpha.notify(token).key);
      }
    }, 50);
    return { made, unheld, stop: () => clearInterval(timer) };
  }

  /** Every notification in `made` reached its registration's callback (at least once). */
  async function allDelivered(made: Map<string, string[]>): Promise<void> {
    for (const [i, token] of TOKENS.entries()) {
      await waitFor(
        () => {
          const ids = new Set(
            h.receiver
              .delivered(`/cb/a${i}`)
              .map(
                (r) => (JSON.parse((r.json as { payload: string }).payload) as { id: string }).id,
              ),
          );
          return made.get(token)!.every((id) => ids.has(id));
        },
        { what: `every notification of a${i} delivered` },
      );
    }
  }

  function currentConnectionIds(): Map<string, number> {
    return new Map(alpha.openConnections().map((c) => [c.token, c.id]));
  }

  beforeAll(async () => {
    h = await ListenerHarness.start({
      instances: { alpha: {}, limited: {} },
      entries: { limited: { maxConnections: LIMIT } },
      env: {
        LISTENER_NODE_TIMEOUT_MS: String(NODE_TIMEOUT_MS),
        // no ping timeouts under load: a reconnect here would be mistaken for a moved stream
        STREAM_PING_INTERVAL_MS: '10000',
        // five processes on one database server shared with other suites
        DB_POOL_SIZE: '4',
      },
    });
    alpha = h.fake('alpha');
    limited = h.fake('limited');
    for (const token of TOKENS) alpha.addToken(token);
    for (const token of LIMITED_TOKENS) limited.addToken(token);
    live.push(h.listener, await h.addListener(), await h.addListener());
    for (const [i, token] of TOKENS.entries())
      await h.registered({ instance: 'alpha', tag: `a${i}`, token });
    for (const [i, token] of LIMITED_TOKENS.entries())
      await h.registered({ instance: 'limited', tag: `l${i}`, token });
  }, 120_000);

  afterAll(async () => {
    await h?.stop();
  });

  it('holds every stream exactly once across three listeners, each a share', async () => {
    await steady('every stream held once by three listeners');
    expect(limited.peakOpen).toBeLessThanOrEqual(LIMIT);
  });

  it('gives a fourth listener its share: only the streams it takes move', async () => {
    const before = currentConnectionIds();
    const fourth = await h.addListener();
    live.push(fourth);
    const shares = await steady('every stream held once by four listeners');
    const after = currentConnectionIds();
    const moved = TOKENS.filter((token) => before.get(token) !== after.get(token));
    expect(moved.length).toBe(shares[3]);
    expect(limited.peakOpen).toBeLessThanOrEqual(LIMIT);
    process.stderr.write(
      `replicas: join moved ${moved.length} of ${STREAMS} streams; longest double hold so far ${alpha.longestOverlapMs} ms\n`,
    );
  });

  it('hands the streams of a SIGTERMed listener over before it exits: none is ever without a stream', async () => {
    const leaving = live.splice(1, 1)[0];
    const notifying = notifyAll();
    const exit = await leaving.stop('SIGTERM');
    await steady('every stream held once by the three remaining listeners');
    notifying.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(leaving.logs).toContain('handover: the other listeners took over');
    expect(notifying.unheld).toEqual([]);
    await allDelivered(notifying.made);
    expect(limited.peakOpen).toBeLessThanOrEqual(LIMIT);
    process.stderr.write(
      `replicas: SIGTERM handover of ${STREAMS} streams; longest double hold ${alpha.longestOverlapMs} ms\n`,
    );
  });

  it('replaces a SIGKILLed listener: its streams are held once by the others, and what was made meanwhile is delivered', async () => {
    const killed = live.splice(0, 1)[0];
    const theirs = await openStreams(killed, 'alpha');
    expect(theirs).toBeGreaterThan(0);
    const notifying = notifyAll();
    await killed.stop('SIGKILL');
    await steady('every stream held once by the two survivors');
    notifying.stop();
    // the killed listener's streams were down meanwhile: catch-up from the cursor brings what they missed
    expect(notifying.unheld.length).toBeGreaterThan(0);
    await allDelivered(notifying.made);
    expect(limited.peakOpen).toBeLessThanOrEqual(LIMIT);
  });
});

describe('listener replicas: taking over registrations never held before', () => {
  const tokens = Array.from({ length: 12 }, (_, i) => `takeover-token-${i}`);
  let h: ListenerHarness;
  let alpha: FakeMastodon;

  beforeAll(async () => {
    h = await ListenerHarness.start({
      instances: { alpha: {} },
      env: {
        LISTENER_NODE_TIMEOUT_MS: String(NODE_TIMEOUT_MS),
        STREAM_PING_INTERVAL_MS: '10000',
        DB_POOL_SIZE: '4',
        // no full re-read of the table during the test: the survivor knows the rows as it read them at first
        LISTENER_FULL_RESYNC_MS: '600000',
      },
    });
    alpha = h.fake('alpha');
    for (const token of tokens) alpha.addToken(token);
    await h.addListener();
    for (const [i, token] of tokens.entries()) await h.registered({ instance: 'alpha', tag: `t${i}`, token });
    await waitFor(() => tokens.every((token) => alpha.openCountByToken().get(token) === 1), {
      timeoutMs: 30_000,
      what: 'every stream held once by the two listeners',
    });
  }, 120_000);

  afterAll(async () => {
    await h?.stop();
  });

  it('catches up from the cursors the killed listener stored, which the survivor never read', async () => {
    const victim = h.listener;
    const victimPort = victim.env.LISTENER_PORT;
    const held = (await (await fetch(`http://127.0.0.1:${victimPort}/metrics`)).text())
      .split('\n')
      .filter((line) => line.startsWith('msl_streams_open{'))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    // with 12 registrations over two listeners, each holding none is a 1 in 2,048 draw
    expect(held).toBeGreaterThan(0);
    // each registration relays one notification: the victim's cursors move on, in its memory and then in the table
    const before = tokens.map((token) => alpha.notify(token).key);
    for (const i of tokens.keys()) await h.receiver.waitForDelivered(1, `/cb/t${i}`);
    await waitFor(
      async () =>
        (
          await h.db.dataSource.query<unknown[]>(
            h.sql('SELECT id FROM stream_listener_registrations WHERE "lastNotificationId" IS NULL'),
          )
        ).length === 0,
      { what: 'every cursor stored' },
    );
    // the survivor reads a row again only while its lastUpdate is within the change window: let the rows age out of it
    const registeredAt = Date.now();
    await waitFor(() => Date.now() - registeredAt > CHANGE_OVERLAP_MS + 1_000, {
      timeoutMs: CHANGE_OVERLAP_MS + 5_000,
      what: 'the rows out of the change window',
    });
    await victim.stop('SIGKILL');
    // made while the victim's streams are down: only a catch-up from the stored cursors finds them
    const during = tokens.map((token) => alpha.notify(token).key);
    await waitFor(() => tokens.every((token) => alpha.openCountByToken().get(token) === 1), {
      timeoutMs: 60_000,
      what: 'every stream held by the survivor',
    });
    const after = tokens.map((token) => alpha.notify(token).key);
    for (const [i] of tokens.entries()) {
      await waitFor(
        () => {
          const ids = new Set(
            h.receiver
              .delivered(`/cb/t${i}`)
              .map((r) => (JSON.parse((r.json as { payload: string }).payload) as { id: string }).id),
          );
          return [before[i], during[i], after[i]].every((id) => ids.has(id));
        },
        { what: `the notifications of t${i}, the one made during the takeover included` },
      );
    }
  });
});
