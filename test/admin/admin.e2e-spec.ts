import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { Webhook } from 'standardwebhooks';
import { ListenerNodeEntity, PendingDeliveryEntity, PushSubscriptionEntity, REPORTED_STATES, RegistrationEntity } from '@app/database';
import { TokenCipher } from '@app/security';
import { APP_ID, APP_SECRET, ListenerHarness } from '../listener/listener-harness';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { runAdmin, runAdminHere } from './admin-process';

const OTHER_APP = 'jp.example.otherapp';
const OTHER_SECRET = 'other-secret-4d1a9c';
const COMMANDS = ['list', 'show', 'remove', 'stats', 'test-callback', 'reencrypt-tokens'];

function token(): string {
  return `tok_${randomBytes(12).toString('hex')}`;
}

describe('admin CLI: command line', () => {
  it('prints the overview and each command its help, exit 0, without a database', async () => {
    const overview = await runAdmin(['--help'], {});
    expect(overview.code).toBe(0);
    for (const name of COMMANDS) expect(overview.stdout).toContain(`  ${name} `);
    const processHelp = await runAdmin(['remove', '--help'], {});
    expect(processHelp).toMatchObject({ code: 0, stdout: expect.stringContaining('usage: npm run admin -- remove') });
    for (const name of COMMANDS) {
      const help = await runAdminHere([name, '-h'], {});
      expect({ name, code: help.code }).toEqual({ name, code: 0 });
      expect(help.stdout).toContain(`usage: npm run admin -- ${name}`);
    }
  });

  it('answers exit code 2 to an unknown command, no command and an unknown option', async () => {
    const unknown = await runAdmin(['frobnicate'], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command: frobnicate');
    expect((await runAdminHere([], {})).code).toBe(2);
    const option = await runAdminHere(['list', '--bogus'], {});
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("'--bogus'");
  });
  it('answers 2 to a wrong command line before it connects to any database', async () => {
    // a database nobody listens on: a command that tried to connect would fail with 1
    const nowhere = { DB_DIALECT: 'postgres', DB_HOST: '127.0.0.1', DB_PORT: '1', DB_USER: 'nobody', DB_NAME: 'none' };
    const wrong = [
      ['list', '--state', 'bogus'],
      ['list', 'extra'],
      ['stats', 'extra'],
      ['show', 'twelve'],
      ['show', 'https://alpha.test', APP_ID],
      ['remove'],
      ['test-callback', '1', '2'],
      ['reencrypt-tokens', '--from-key', 'short'],
    ];
    for (const args of wrong) {
      const run = await runAdminHere(args, nowhere);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toContain(`usage: npm run admin -- ${args[0]}`);
    }
    const state = await runAdminHere(['list', '--state', 'bogus'], nowhere);
    expect(state.stderr).toContain('--state: unknown state "bogus"; one of pending, connecting, streaming, subscribed, retrying, unauthorized, removed');
    // the same database, a right command line: it does try to connect (the process then exits 1)
    await expect(runAdminHere(['list', '--state', 'streaming'], nowhere)).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('admin CLI against a running api and listener', () => {
  let h: ListenerHarness;
  let env: Record<string, string>;
  const tokens = { a: token(), b: token(), c: token(), failing: token() };

  beforeAll(async () => {
    h = await ListenerHarness.start({
      instances: { alpha: { version: '4.3.0', record: true }, beta: { version: '4.3.0', record: true } },
      apps: { [OTHER_APP]: { secret: OTHER_SECRET } },
    });
    env = { ...h.db.env, CONFIG_DIR: h.configDir, LISTENER_POLL_INTERVAL_MS: '200' };
    for (const t of Object.values(tokens)) h.fake('alpha').addToken(t);
    h.fake('beta').addToken(tokens.c);
    await h.registered({ instance: 'alpha', tag: 'user-a', token: tokens.a });
    await h.registered({ instance: 'alpha', tag: 'user-b', token: tokens.b, appId: OTHER_APP, appSecret: OTHER_SECRET });
    await h.registered({ instance: 'beta', tag: 'user-c', token: tokens.c });
    await h.registered({ instance: 'alpha', tag: 'user-failing', token: tokens.failing });
    for (const t of Object.values(tokens)) {
      const fake = t === tokens.c ? h.fake('beta') : h.fake('alpha');
      await fake.waitForConnection((c) => c.token === t);
    }
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('list shows every registration and never a token or a secret', async () => {
    const run = await runAdmin(['list'], env); // as its own process, as an operator runs it
    expect(run.code).toBe(0);
    for (const tag of ['user-a', 'user-b', 'user-c', 'user-failing']) expect(run.stdout).toContain(tag);
    expect(run.stdout).toContain('4 registration(s)');
    const everything = run.stdout + run.stderr;
    for (const secret of [...Object.values(tokens), APP_SECRET, OTHER_SECRET]) expect(everything).not.toContain(secret);
  });

  it('list filters by instance (as typed by a person) and by app, and writes JSON', async () => {
    const byInstance = await runAdminHere(['list', '--instance', 'HTTPS://Beta.test/', '--json'], env);
    expect(byInstance.code).toBe(0);
    const rows = JSON.parse(byInstance.stdout) as { tag: string; instanceUrl: string; tokenSealed: boolean }[];
    expect(rows.map((r) => r.tag)).toEqual(['user-c']);
    expect(rows[0]).toMatchObject({ instanceUrl: 'https://beta.test', tokenSealed: false });
    const byApp = JSON.parse((await runAdminHere(['list', '--app', OTHER_APP, '--json'], env)).stdout) as { tag: string }[];
    expect(byApp.map((r) => r.tag)).toEqual(['user-b']);
    const both = JSON.parse(
      (await runAdminHere(['list', '--app', OTHER_APP, '--instance', 'https://beta.test', '--json'], env)).stdout,
    ) as unknown[];
    expect(both).toEqual([]);
  });

  it('list --state streaming finds the registrations whose streams the listener holds open', async () => {
    const streaming = await waitFor(
      async () => {
        const rows = JSON.parse((await runAdminHere(['list', '--state', 'streaming', '--json'], env)).stdout) as {
          tag: string;
          state: string;
          heldBy: string | null;
        }[];
        return rows.length === 4 ? rows : undefined;
      },
      { what: 'the listener to record the four streams as streaming' },
    );
    expect(streaming.map((r) => r.tag).sort()).toEqual(['user-a', 'user-b', 'user-c', 'user-failing']);
    // heldBy names the listener as its heartbeat row does (host, pid and a random part)
    expect(streaming.every((r) => r.state === 'streaming' && r.heldBy?.includes(`-${h.listener.pid}-`))).toBe(true);
    const none = await runAdminHere(['list', '--state', 'retrying'], env);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('0 registration(s)');
  });

  it('stats shows the running listener alive, with the streams it reported at its heartbeat', async () => {
    type Listener = { id: string; liveness: string; streamsOpen: number; heartbeatAgeSeconds: number };
    const listeners = await waitFor(
      async () => {
        const stats = JSON.parse((await runAdminHere(['stats', '--json'], env)).stdout) as { listeners: Listener[] };
        return stats.listeners.length === 1 && stats.listeners[0].streamsOpen === 4 ? stats.listeners : undefined;
      },
      { what: 'the listener to report its four streams in its heartbeat' },
    );
    expect(listeners[0].id.startsWith(`${os.hostname().slice(0, 40)}-${h.listener.pid}-`)).toBe(true);
    expect(listeners[0].liveness).toBe('alive');
    const text = await runAdminHere(['stats'], env);
    expect(text.stdout).toMatch(new RegExp(`^${listeners[0].id}  +alive  +\\S+ \\(\\d+ s ago\\)  +4 `, 'm'));
  });

  it('show finds a registration by id and by key, and answers 3 when there is none', async () => {
    const row = await h.row('alpha', 'user-a');
    const byId = await runAdminHere(['show', String(row!.id), '--json'], env);
    expect(byId.code).toBe(0);
    const shown = JSON.parse(byId.stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({ id: row!.id, instanceUrl: 'https://alpha.test', appId: APP_ID, tag: 'user-a', retry: null });
    expect(Date.parse(shown.expiresAt as string)).toBeGreaterThan(Date.now());
    const byKey = await runAdminHere(['show', 'https://alpha.test', APP_ID, 'user-a'], env);
    expect(byKey.code).toBe(0);
    expect(byKey.stdout).toMatch(/^id +\d+$/m);
    expect(byKey.stdout).toMatch(/^state +streaming since \S+ \(\d+ (s|min) ago\)$/m);
    expect(byKey.stdout).toContain('plain text (see reencrypt-tokens)');
    expect(byKey.stdout).not.toContain(tokens.a);
    expect((await runAdminHere(['show', '999999'], env)).code).toBe(3);
    expect((await runAdminHere(['show', 'https://alpha.test', APP_ID, 'nobody'], env)).code).toBe(3);
    expect((await runAdminHere(['show', 'https://alpha.test', APP_ID], env)).code).toBe(2);
    expect((await runAdminHere(['show', 'twelve'], env)).code).toBe(2);
  });

  it('stats counts by instance and app, and shows the retry queue and the failing registration', async () => {
    h.receiver.script('/cb/user-failing', [], { status: 503 });
    h.fake('alpha').emit(tokens.failing, { event: 'notification', payload: JSON.stringify({ id: '1' }) });
    const failing = await h.row('alpha', 'user-failing');
    let stats: {
      registrations: number;
      byInstance: Record<string, number>;
      byApp: Record<string, number>;
      retryQueue: { depth: number; registrations: number; oldestAgeSeconds: number | null };
      failingCallbacks: { id: number; tag: string; lastError: string | null; attempts: number }[];
    } = undefined as never;
    await waitFor(
      async () => {
        const run = await runAdminHere(['stats', '--json'], env);
        stats = JSON.parse(run.stdout) as typeof stats;
        return stats.retryQueue.depth > 0;
      },
      { what: 'the failing callback in the retry queue' },
    );
    expect(stats.registrations).toBe(4);
    expect(stats.byInstance).toEqual({ 'https://alpha.test': 3, 'https://beta.test': 1 });
    expect(stats.byApp).toEqual({ [APP_ID]: 3, [OTHER_APP]: 1 });
    expect(stats.retryQueue.registrations).toBe(1);
    expect(stats.retryQueue.oldestAgeSeconds).not.toBeNull();
    expect(stats.failingCallbacks).toEqual([expect.objectContaining({ id: failing!.id, tag: 'user-failing' })]);
    expect(stats.failingCallbacks[0].lastError).toContain('503');
    const text = await runAdminHere(['stats'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/retry queue: \d+ event\(s\) of 1 registration\(s\), oldest from /);
    expect(text.stdout).toContain('user-failing');
  });

  it('test-callback sends a signed test event and prints the answer', async () => {
    h.receiver.clear();
    h.receiver.script('/cb/user-a', [{ status: 202, body: 'thanks' }]);
    const run = await runAdminHere(['test-callback', 'https://alpha.test', APP_ID, 'user-a'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('answer: HTTP 202');
    expect(run.stdout).toContain('thanks');
    const [request] = h.receiver.requestsTo('/cb/user-a');
    expect(request.json).toMatchObject({ instanceUrl: 'https://alpha.test', appId: APP_ID, tag: 'user-a', event: 'test' });
    const webhook = new Webhook(Buffer.from(APP_SECRET, 'utf8'), { format: 'raw' });
    expect(() => webhook.verify(request.rawBody, request.headers as Record<string, string>)).not.toThrow();
    expect(run.stdout).toContain(String(request.headers['webhook-id']));
  });

  it('test-callback exits 1 when the receiver fails, and 3 for no registration', async () => {
    h.receiver.script('/cb/user-b', [{ status: 500, body: 'broken' }]);
    const row = await h.row('alpha', 'user-b');
    const run = await runAdminHere(['test-callback', String(row!.id)], env);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('answer: HTTP 500');
    expect((await runAdminHere(['test-callback', '999999'], env)).code).toBe(3);
  });

  it('remove deletes the registration and the listener closes its stream within a poll', async () => {
    expect(h.fake('beta').openConnections(tokens.c)).toHaveLength(1);
    const run = await runAdminHere(['remove', 'https://beta.test', APP_ID, 'user-c'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^removed registration \d+ \(https:\/\/beta\.test jp\.example\.relaytest user-c\)/);
    expect(await h.row('beta', 'user-c')).toBeUndefined();
    await waitFor(() => h.fake('beta').openConnections(tokens.c).length === 0, { what: 'the stream to close' });
    await h.waitForListenerLog('stream closed for https://beta.test jp.example.relaytest user-c: registration removed');
    expect((await runAdminHere(['remove', 'https://beta.test', APP_ID, 'user-c'], env)).code).toBe(3);
    // deleted, as by /unregister: its app server is told there is no such registration
    expect((await h.status('beta', 'user-c')).status).toBe(404);
  });

  it('remove takes the waiting callbacks of the registration with it', async () => {
    h.receiver.script('/cb/user-failing', [], { status: 503 });
    h.fake('alpha').emit(tokens.failing, { event: 'notification', payload: JSON.stringify({ id: '2' }) });
    const failing = await h.row('alpha', 'user-failing');
    await waitFor(
      async () => (JSON.parse((await runAdminHere(['stats', '--json'], env)).stdout) as { retryQueue: { depth: number } }).retryQueue.depth > 0,
      { what: 'its failing callback in the retry queue' },
    );
    expect((await runAdminHere(['remove', String(failing!.id)], env)).code).toBe(0);
    const after = JSON.parse((await runAdminHere(['stats', '--json'], env)).stdout) as {
      retryQueue: { depth: number };
      failingCallbacks: unknown[];
    };
    expect(after.retryQueue.depth).toBe(0);
    expect(after.failingCallbacks).toEqual([]);
    await waitFor(() => h.fake('alpha').openConnections(tokens.failing).length === 0, { what: 'its stream to close' });
    await h.waitForListenerLog('stream closed for https://alpha.test jp.example.relaytest user-failing: registration removed');
    // the listener let go of the events it held for it: none written back
    const later = JSON.parse((await runAdminHere(['stats', '--json'], env)).stdout) as { retryQueue: { depth: number } };
    expect(later.retryQueue.depth).toBe(0);
  });
});

describe('admin CLI: states, removals and listeners, as recorded in the database', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  // the rows' times are relative to this; listeners' heartbeats are written again just before they are judged
  const now = Date.now();
  const secretToken = token();
  const TIMEOUT_MS = 120_000;
  // tag → what a listener recorded for it (no state: no listener picked it up yet)
  const recorded: Record<string, Partial<RegistrationEntity> & { instanceUrl: string; appId: string }> = {
    fresh: { instanceUrl: 'https://alpha.test', appId: APP_ID },
    opening: { instanceUrl: 'https://alpha.test', appId: APP_ID, state: 'connecting', stateSince: now - 1_000, heldBy: 'node-a' },
    fine: { instanceUrl: 'https://alpha.test', appId: APP_ID, state: 'streaming', stateSince: now - 5_000, heldBy: 'node-a', lastRelayedAt: now - 2_000, endpointInUse: 'user:notification' },
    flaky: { instanceUrl: 'https://alpha.test', appId: OTHER_APP, state: 'retrying', stateSince: now - 60_000, heldBy: 'node-a', lastError: 'stream failed to open: HTTP 503' },
    refused: { instanceUrl: 'https://beta.test', appId: APP_ID, state: 'unauthorized', stateSince: now - 120_000, heldBy: 'node-b', lastError: 'HTTP 401 on upgrade' },
    revoked: { instanceUrl: 'https://beta.test', appId: APP_ID, state: 'removed', stateSince: now - 30_000, removalReason: 'revoked', lastError: 'HTTP 401 on upgrade' },
    lapsed: { instanceUrl: 'https://beta.test', appId: OTHER_APP, state: 'removed', stateSince: now - 40_000, removalReason: 'expired' },
  };
  const expectedByState: Record<string, string[]> = {
    pending: ['fresh'],
    connecting: ['opening'],
    streaming: ['fine'],
    subscribed: [],
    retrying: ['flaky'],
    unauthorized: ['refused'],
    removed: ['revoked', 'lapsed'],
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    env = { ...db.env, LISTENER_NODE_TIMEOUT_MS: String(TIMEOUT_MS) };
    const rows = db.dataSource.getRepository(RegistrationEntity);
    for (const [tag, fields] of Object.entries(recorded)) {
      await rows.insert({
        lastUpdate: now,
        tag,
        accessToken: secretToken,
        appSecret: 'hash',
        callbackUrl: `https://receiver.example/cb/${tag}?key=receiver-secret`,
        endpoint: null,
        ...fields,
      });
    }
    const fine = await rows.findOneByOrFail({ tag: 'fine' });
    await db.dataSource.getRepository(PendingDeliveryEntity).insert({
      registrationId: fine.id,
      webhookId: 'msg_test',
      event: 'notification',
      body: '{}',
      attempts: 2,
      receivedAt: now - 90_000,
      nextAttemptAt: now + 10_000,
      deadlineAt: now + 3_600_000,
      lastError: 'HTTP 500',
    });
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('list --state finds exactly the registrations in each state, pending for none recorded yet', async () => {
    expect([...REPORTED_STATES]).toEqual(Object.keys(expectedByState));
    for (const [state, tags] of Object.entries(expectedByState)) {
      const run = await runAdminHere(['list', '--state', state, '--json'], env);
      expect({ state, code: run.code }).toEqual({ state, code: 0 });
      const rows = JSON.parse(run.stdout) as { tag: string; state: string }[];
      expect({ state, tags: rows.map((r) => r.tag).sort() }).toEqual({ state, tags: [...tags].sort() });
      expect(rows.every((r) => r.state === state)).toBe(true);
    }
    const combined = await runAdminHere(['list', '--state', 'removed', '--app', OTHER_APP, '--instance', 'https://beta.test', '--json'], env);
    expect((JSON.parse(combined.stdout) as { tag: string }[]).map((r) => r.tag)).toEqual(['lapsed']);
  });

  it('list --state refuses an unknown state with the valid ones, exit 2', async () => {
    for (const bad of ['bogus', 'Streaming', '', 'null']) {
      const run = await runAdminHere(['list', '--state', bad], env);
      expect({ bad, code: run.code }).toEqual({ bad, code: 2 });
      expect(run.stderr).toContain('pending, connecting, streaming, subscribed, retrying, unauthorized, removed');
      expect(run.stdout).toBe('');
    }
  });

  it('list shows each state (a removed one with its reason) and never the token or the callback query', async () => {
    const run = await runAdminHere(['list'], env);
    expect(run.code).toBe(0);
    const line = (tag: string) => run.stdout.split('\n').find((l) => l.includes(` ${tag} `)) ?? '';
    expect(line('fresh')).toMatch(/ pending /);
    expect(line('flaky')).toMatch(/ retrying /);
    expect(line('revoked')).toMatch(/ removed \(revoked\) /);
    expect(line('lapsed')).toMatch(/ removed \(expired\) /);
    expect(run.stdout).toContain('7 registration(s)');
    const json = JSON.parse((await runAdminHere(['list', '--json'], env)).stdout) as Record<string, unknown>[];
    expect(json.find((r) => r.tag === 'revoked')).toMatchObject({ state: 'removed', removalReason: 'revoked', lastError: 'HTTP 401 on upgrade' });
    expect(json.find((r) => r.tag === 'fresh')).toMatchObject({ state: 'pending', stateSince: null, heldBy: null, removalReason: null });
    expect(json.find((r) => r.tag === 'fine')).toMatchObject({
      state: 'streaming',
      stateSince: new Date(now - 5_000).toISOString(),
      lastRelayedAt: new Date(now - 2_000).toISOString(),
      heldBy: 'node-a',
      endpointInUse: 'user:notification',
    });
    for (const output of [run.stdout + run.stderr, JSON.stringify(json)]) {
      expect(output).not.toContain(secretToken);
      expect(output).not.toContain('receiver-secret');
    }
  });

  it('show gives the state, its start, the stream error, the holder and the removal reason', async () => {
    const flaky = await runAdminHere(['show', 'https://alpha.test', OTHER_APP, 'flaky'], env);
    expect(flaky.code).toBe(0);
    expect(flaky.stdout).toMatch(/^state +retrying since \S+ \(\d+ (s|min) ago\)$/m);
    expect(flaky.stdout).toMatch(/^stream error +stream failed to open: HTTP 503$/m);
    expect(flaky.stdout).toMatch(/^held by +node-a$/m);
    expect(flaky.stdout).toMatch(/^relayed +never$/m);
    const revoked = await runAdminHere(['show', 'https://beta.test', APP_ID, 'revoked', '--json'], env);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ state: 'removed', removalReason: 'revoked', stateSince: new Date(now - 30_000).toISOString() });
    const text = await runAdminHere(['show', 'https://beta.test', APP_ID, 'revoked'], env);
    expect(text.stdout).toMatch(/^state +removed \(revoked\) since /m);
    expect(text.stdout + text.stderr).not.toContain(secretToken);
  });

  it('stats counts by state, instance and state, app and removal reason, and judges the listeners as the membership does', async () => {
    const beat = Date.now();
    await db.dataSource.getRepository(ListenerNodeEntity).insert([
      { id: 'node-a', startedAt: beat - 600_000, heartbeatAt: beat, leaving: 0, view: 'v1', streamsOpen: 3 },
      { id: 'node-b', startedAt: beat - 600_000, heartbeatAt: beat, leaving: 1, view: 'v1', streamsOpen: 1 },
      { id: 'node-c', startedAt: beat - 900_000, heartbeatAt: beat - 2 * TIMEOUT_MS, leaving: 0, view: 'v0', streamsOpen: 7 },
    ]);
    const run = await runAdminHere(['stats', '--json'], env);
    expect(run.code).toBe(0);
    const stats = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(stats).toMatchObject({
      registrations: 7,
      byState: { pending: 1, connecting: 1, streaming: 1, retrying: 1, unauthorized: 1, removed: 2 },
      byInstance: { 'https://alpha.test': 4, 'https://beta.test': 3 },
      byInstanceAndState: {
        'https://alpha.test': { pending: 1, connecting: 1, streaming: 1, retrying: 1 },
        'https://beta.test': { unauthorized: 1, removed: 2 },
      },
      byApp: { [APP_ID]: 5, [OTHER_APP]: 2 },
      removedByReason: { expired: 1, revoked: 1 },
      listenerTimeoutMs: TIMEOUT_MS,
      retryQueue: { depth: 1, registrations: 1, oldestReceivedAt: new Date(now - 90_000).toISOString() },
    });
    expect(Object.keys(stats.byState as object)).toEqual(['pending', 'connecting', 'streaming', 'retrying', 'unauthorized', 'removed']);
    expect(stats.listeners).toEqual([
      expect.objectContaining({ id: 'node-a', liveness: 'alive', streamsOpen: 3, heartbeatAt: new Date(beat).toISOString() }),
      expect.objectContaining({ id: 'node-b', liveness: 'leaving', streamsOpen: 1 }),
      expect.objectContaining({ id: 'node-c', liveness: 'dead', streamsOpen: 7, heartbeatAt: new Date(beat - 2 * TIMEOUT_MS).toISOString() }),
    ]);
    // longest failing first; removed and streaming ones are not failing
    expect(stats.failingStreams).toEqual([
      expect.objectContaining({ tag: 'refused', state: 'unauthorized', lastError: 'HTTP 401 on upgrade', heldBy: 'node-b' }),
      expect.objectContaining({ tag: 'flaky', state: 'retrying', lastError: 'stream failed to open: HTTP 503', heldBy: 'node-a' }),
    ]);
    expect(stats.failingCallbacks).toEqual([expect.objectContaining({ tag: 'fine', attempts: 2, lastError: 'HTTP 500' })]);

    const text = await runAdminHere(['stats'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('registrations: 7 (2 removed');
    expect(text.stdout).toMatch(/^instance +registrations +pending +connecting +streaming +retrying +unauthorized +removed$/m);
    expect(text.stdout).toMatch(/^https:\/\/beta\.test +3 +0 +0 +0 +0 +1 +2$/m);
    expect(text.stdout).toMatch(/^removed because +registrations$/m);
    expect(text.stdout).toMatch(/^node-a +alive +\S+ \(\d+ s ago\) +3 /m);
    expect(text.stdout).toMatch(/^node-b +leaving +/m);
    expect(text.stdout).toMatch(/^node-c +dead +\S+ \(\d+ min ago\) +7 /m);
    expect(text.stdout).toMatch(/^\d+ +https:\/\/beta\.test +\S+ +refused +unauthorized +\d+ (s|min) ago +node-b +HTTP 401 on upgrade$/m);
    expect(text.stdout + text.stderr).not.toContain(secretToken);
  });
});

describe('admin CLI: reencrypt-tokens', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  const plain = [token(), token(), token()];
  const pushPrivateKey = randomBytes(32).toString('base64url');
  const pushAuthSecret = randomBytes(16).toString('base64url');
  const firstKey = randomBytes(32);
  const secondKey = randomBytes(32);

  beforeAll(async () => {
    db = await createTestDatabase();
    env = { ...db.env };
    const rows = db.dataSource.getRepository(RegistrationEntity);
    for (const [index, accessToken] of plain.entries()) {
      await rows.insert({
        lastUpdate: Date.now(),
        instanceUrl: 'https://alpha.test',
        appId: APP_ID,
        tag: `user-${index}`,
        accessToken,
        appSecret: 'hash',
        callbackUrl: 'https://receiver.example/cb',
        endpoint: null,
      });
    }
    // the first user's Web Push subscription, its keys written before the key was set
    const first = await rows.findOneByOrFail({ tag: 'user-0' });
    await db.dataSource.getRepository(PushSubscriptionEntity).insert({
      registrationId: first.id,
      pushId: 'p'.repeat(43),
      publicKey: 'BPublicKey',
      privateKey: pushPrivateKey,
      authSecret: pushAuthSecret,
      serverKey: null,
      state: 'subscribed',
      tokenHash: 'hash',
      lastError: null,
      updatedAt: Date.now(),
    });
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function storedTokens(): Promise<string[]> {
    const rows = await db.dataSource.getRepository(RegistrationEntity).find({ order: { id: 'ASC' } });
    return rows.map((r) => r.accessToken);
  }

  async function storedPushKeys(): Promise<string[]> {
    const row = await db.dataSource.getRepository(PushSubscriptionEntity).findOneByOrFail({ pushId: 'p'.repeat(43) });
    return [row.privateKey, row.authSecret];
  }

  it('refuses to run without TOKEN_ENCRYPTION_KEY', async () => {
    const run = await runAdminHere(['reencrypt-tokens'], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('TOKEN_ENCRYPTION_KEY is not set');
    expect(await storedTokens()).toEqual(plain);
    expect(await storedPushKeys()).toEqual([pushPrivateKey, pushAuthSecret]);
  });

  it('seals every plain token and push key, then finds nothing left to do', async () => {
    const keyed = { ...env, TOKEN_ENCRYPTION_KEY: firstKey.toString('hex') };
    const first = await runAdminHere(['reencrypt-tokens'], keyed);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('sealed 5 plain token(s) and push key(s), re-sealed 0');
    const stored = await storedTokens();
    expect(stored.every((s) => TokenCipher.isSealed(s))).toBe(true);
    expect(stored.map((s) => new TokenCipher(firstKey).open(s))).toEqual(plain);
    const keys = await storedPushKeys();
    expect(keys.map((s) => new TokenCipher(firstKey).open(s))).toEqual([pushPrivateKey, pushAuthSecret]);
    const again = await runAdminHere(['reencrypt-tokens'], keyed);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('sealed 0 plain token(s) and push key(s), re-sealed 0 from the old key, 5 already sealed');
    expect(await storedTokens()).toEqual(stored);
    expect(await storedPushKeys()).toEqual(keys);
  });

  it('re-seals under a new key with --from-key, and says which tokens it cannot read without it', async () => {
    const keyed = { ...env, TOKEN_ENCRYPTION_KEY: secondKey.toString('base64') };
    const without = await runAdminHere(['reencrypt-tokens'], keyed);
    expect(without.code).toBe(1);
    expect(without.stdout).toContain('5 unreadable');
    expect(without.stderr).toContain('give it with --from-key');
    const badKey = await runAdminHere(['reencrypt-tokens', '--from-key', 'short'], keyed);
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toContain('--from-key must be 32 bytes');
    const rotated = await runAdminHere(['reencrypt-tokens', '--from-key', firstKey.toString('hex')], keyed);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain('sealed 0 plain token(s) and push key(s), re-sealed 5 from the old key');
    expect((await storedTokens()).map((s) => new TokenCipher(secondKey).open(s))).toEqual(plain);
    expect((await storedPushKeys()).map((s) => new TokenCipher(secondKey).open(s))).toEqual([pushPrivateKey, pushAuthSecret]);
    const list = await runAdminHere(['list', '--json'], keyed);
    expect((JSON.parse(list.stdout) as { tokenSealed: boolean }[]).every((r) => r.tokenSealed)).toBe(true);
  });
});
