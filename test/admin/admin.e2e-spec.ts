import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { RegistrationEntity } from '@app/database';
import { TokenCipher } from '@app/security';
import { APP_ID, APP_SECRET, ListenerHarness } from '../listener/listener-harness';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { runAdmin } from './admin-process';

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
    for (const name of COMMANDS) {
      const help = await runAdmin([name, '--help'], {});
      expect({ name, code: help.code }).toEqual({ name, code: 0 });
      expect(help.stdout).toContain(`usage: npm run admin -- ${name}`);
    }
  });

  it('answers exit code 2 to an unknown command, no command and an unknown option', async () => {
    const unknown = await runAdmin(['frobnicate'], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command: frobnicate');
    expect((await runAdmin([], {})).code).toBe(2);
    const option = await runAdmin(['list', '--bogus'], {});
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("'--bogus'");
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
    const run = await runAdmin(['list'], env);
    expect(run.code).toBe(0);
    for (const tag of ['user-a', 'user-b', 'user-c', 'user-failing']) expect(run.stdout).toContain(tag);
    expect(run.stdout).toContain('4 registration(s)');
    const everything = run.stdout + run.stderr;
    for (const secret of [...Object.values(tokens), APP_SECRET, OTHER_SECRET]) expect(everything).not.toContain(secret);
  });

  it('list filters by instance (as typed by a person) and by app, and writes JSON', async () => {
    const byInstance = await runAdmin(['list', '--instance', 'HTTPS://Beta.test/', '--json'], env);
    expect(byInstance.code).toBe(0);
    const rows = JSON.parse(byInstance.stdout) as { tag: string; instanceUrl: string; tokenSealed: boolean }[];
    expect(rows.map((r) => r.tag)).toEqual(['user-c']);
    expect(rows[0]).toMatchObject({ instanceUrl: 'https://beta.test', tokenSealed: false });
    const byApp = JSON.parse((await runAdmin(['list', '--app', OTHER_APP, '--json'], env)).stdout) as { tag: string }[];
    expect(byApp.map((r) => r.tag)).toEqual(['user-b']);
    const both = JSON.parse(
      (await runAdmin(['list', '--app', OTHER_APP, '--instance', 'https://beta.test', '--json'], env)).stdout,
    ) as unknown[];
    expect(both).toEqual([]);
  });

  it('list --state is refused while the database records no states', async () => {
    const run = await runAdmin(['list', '--state', 'streaming'], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('records no registration states');
  });

  it('show finds a registration by id and by key, and answers 3 when there is none', async () => {
    const row = await h.row('alpha', 'user-a');
    const byId = await runAdmin(['show', String(row!.id), '--json'], env);
    expect(byId.code).toBe(0);
    const shown = JSON.parse(byId.stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({ id: row!.id, instanceUrl: 'https://alpha.test', appId: APP_ID, tag: 'user-a', retry: null });
    expect(Date.parse(shown.expiresAt as string)).toBeGreaterThan(Date.now());
    const byKey = await runAdmin(['show', 'https://alpha.test', APP_ID, 'user-a'], env);
    expect(byKey.code).toBe(0);
    expect(byKey.stdout).toMatch(/^id {9}\d+$/m);
    expect(byKey.stdout).toContain('plain text (see reencrypt-tokens)');
    expect(byKey.stdout).not.toContain(tokens.a);
    expect((await runAdmin(['show', '999999'], env)).code).toBe(3);
    expect((await runAdmin(['show', 'https://alpha.test', APP_ID, 'nobody'], env)).code).toBe(3);
    expect((await runAdmin(['show', 'https://alpha.test', APP_ID], env)).code).toBe(2);
    expect((await runAdmin(['show', 'twelve'], env)).code).toBe(2);
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
      failing: { id: number; tag: string; lastError: string | null; attempts: number }[];
    } = undefined as never;
    await waitFor(
      async () => {
        const run = await runAdmin(['stats', '--json'], env);
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
    expect(stats.failing).toEqual([expect.objectContaining({ id: failing!.id, tag: 'user-failing' })]);
    expect(stats.failing[0].lastError).toContain('503');
    const text = await runAdmin(['stats'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/retry queue: \d+ event\(s\) of 1 registration\(s\), oldest from /);
    expect(text.stdout).toContain('user-failing');
  });

  it('test-callback sends a signed test event and prints the answer', async () => {
    h.receiver.clear();
    h.receiver.script('/cb/user-a', [{ status: 202, body: 'thanks' }]);
    const run = await runAdmin(['test-callback', 'https://alpha.test', APP_ID, 'user-a'], env);
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
    const run = await runAdmin(['test-callback', String(row!.id)], env);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('answer: HTTP 500');
    expect((await runAdmin(['test-callback', '999999'], env)).code).toBe(3);
  });

  it('remove deletes the registration and the listener closes its stream within a poll', async () => {
    expect(h.fake('beta').openConnections(tokens.c)).toHaveLength(1);
    const run = await runAdmin(['remove', 'https://beta.test', APP_ID, 'user-c'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^removed registration \d+ \(https:\/\/beta\.test jp\.example\.relaytest user-c\)/);
    expect(await h.row('beta', 'user-c')).toBeUndefined();
    await waitFor(() => h.fake('beta').openConnections(tokens.c).length === 0, { what: 'the stream to close' });
    await h.waitForListenerLog('stream closed for https://beta.test jp.example.relaytest user-c: registration removed');
    expect((await runAdmin(['remove', 'https://beta.test', APP_ID, 'user-c'], env)).code).toBe(3);
  });
});

describe('admin CLI: reencrypt-tokens', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  const plain = [token(), token(), token()];
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
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function storedTokens(): Promise<string[]> {
    const rows = await db.dataSource.getRepository(RegistrationEntity).find({ order: { id: 'ASC' } });
    return rows.map((r) => r.accessToken);
  }

  it('refuses to run without TOKEN_ENCRYPTION_KEY', async () => {
    const run = await runAdmin(['reencrypt-tokens'], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('TOKEN_ENCRYPTION_KEY is not set');
    expect(await storedTokens()).toEqual(plain);
  });

  it('seals every plain token, then finds nothing left to do', async () => {
    const keyed = { ...env, TOKEN_ENCRYPTION_KEY: firstKey.toString('hex') };
    const first = await runAdmin(['reencrypt-tokens'], keyed);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('sealed 3 plain token(s), re-sealed 0');
    const stored = await storedTokens();
    expect(stored.every((s) => TokenCipher.isSealed(s))).toBe(true);
    expect(stored.map((s) => new TokenCipher(firstKey).open(s))).toEqual(plain);
    const again = await runAdmin(['reencrypt-tokens'], keyed);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('sealed 0 plain token(s), re-sealed 0 from the old key, 3 already sealed');
    expect(await storedTokens()).toEqual(stored);
  });

  it('re-seals under a new key with --from-key, and says which tokens it cannot read without it', async () => {
    const keyed = { ...env, TOKEN_ENCRYPTION_KEY: secondKey.toString('base64') };
    const without = await runAdmin(['reencrypt-tokens'], keyed);
    expect(without.code).toBe(1);
    expect(without.stdout).toContain('3 unreadable');
    expect(without.stderr).toContain('give it with --from-key');
    const badKey = await runAdmin(['reencrypt-tokens', '--from-key', 'short'], keyed);
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toContain('--from-key must be 32 bytes');
    const rotated = await runAdmin(['reencrypt-tokens', '--from-key', firstKey.toString('hex')], keyed);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain('sealed 0 plain token(s), re-sealed 3 from the old key');
    expect((await storedTokens()).map((s) => new TokenCipher(secondKey).open(s))).toEqual(plain);
    const list = await runAdmin(['list', '--json'], keyed);
    expect((JSON.parse(list.stdout) as { tokenSealed: boolean }[]).every((r) => r.tokenSealed)).toBe(true);
  });
});
