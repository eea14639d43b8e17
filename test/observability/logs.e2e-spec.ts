import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { APP_ID, ListenerHarness } from '../listener/listener-harness';
import { AppProcess, freePort } from '../support/app-process';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

const ROOT = path.resolve(__dirname, '../..');

interface LogLine {
  level: number;
  time: string;
  msg: string;
  context?: string;
}

function jsonLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LogLine);
}

/** A config folder with only the shipped samples, as on a fresh checkout. */
function sampleConfigDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msl-samples-'));
  for (const name of ['app_map.hjson.sample', 'instance_map.hjson.sample']) {
    fs.copyFileSync(path.join(ROOT, 'config', name), path.join(dir, name));
  }
  return dir;
}

describe('logs: start-up of api and listener in one process', () => {
  let db: TestDatabase;
  let app: AppProcess | undefined;
  let ports: { api: number; listener: number };

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function start(extra: Record<string, string>): Promise<AppProcess> {
    ports = { api: await freePort(), listener: await freePort() };
    const started = await AppProcess.start('standalone', {
      ...db.env,
      CONFIG_DIR: sampleConfigDir(),
      HOST: '127.0.0.1',
      LISTENER_HOST: '127.0.0.1',
      PORT: String(ports.api),
      LISTENER_PORT: String(ports.listener),
      LOG_LEVEL: 'info',
      ...extra,
    });
    await waitFor(() => started.logs.includes(`http://127.0.0.1:${ports.listener}`), { what: 'the listener line' });
    return started;
  }

  it('prints one JSON line per event: no bootstrap noise, each warning once, where each app listens', async () => {
    app = await start({});
    const lines = jsonLines(app.logs);
    for (const line of lines) expect(new Date(line.time).toISOString()).toBe(line.time);
    expect(lines.filter((l) => ['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory'].includes(l.context ?? ''))).toEqual([]);
    expect(lines.filter((l) => l.msg.includes('app_map.hjson is missing'))).toHaveLength(1);
    expect(lines.filter((l) => l.msg.includes('instance_map.hjson is missing'))).toHaveLength(1);
    const listening = lines.filter((l) => l.msg.startsWith('listening on'));
    expect(listening.map((l) => [l.context, l.msg])).toEqual([
      ['api', `listening on http://127.0.0.1:${ports.api}: /register, /unregister, /docs, /health, /metrics`],
      ['listener', `listening on http://127.0.0.1:${ports.listener}: /health, /metrics, /status`],
    ]);
    // two warnings and two lines saying where the apps listen: nothing else at info on a migrated database
    expect(lines).toHaveLength(4);
  });

  it('logs probes, scrapes and docs at debug, other requests at info or above', async () => {
    app = await start({ LOG_LEVEL: 'debug' });
    const before = jsonLines(app.logs).length;
    for (const url of [
      `http://127.0.0.1:${ports.api}/health`,
      `http://127.0.0.1:${ports.api}/metrics`,
      `http://127.0.0.1:${ports.api}/docs`,
      `http://127.0.0.1:${ports.listener}/health?token=never-logged-${randomBytes(4).toString('hex')}`,
      `http://127.0.0.1:${ports.listener}/metrics`,
    ])
      await fetch(url).then((r) => r.arrayBuffer());
    await fetch(`http://127.0.0.1:${ports.api}/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    const requests = await waitFor(() => {
      const found = jsonLines(app!.logs).slice(before).filter((l) => / \d{3} \d+ ms$/.test(l.msg));
      return found.some((l) => l.msg.startsWith('POST /register')) && found.length >= 6 ? found : undefined;
    });
    const byPath = (p: string) => requests.filter((l) => l.msg.startsWith(p));
    for (const probe of ['GET /health 200', 'GET /metrics 200']) {
      // the harness's own /health polls at start-up may be written after `before` was taken
      const levels = byPath(probe).map((l) => l.level);
      expect(levels.length).toBeGreaterThanOrEqual(2);
      expect(levels.filter((level) => level !== 20)).toEqual([]);
    }
    expect(byPath('GET /docs').map((l) => l.level)).toEqual([20]);
    expect(byPath('POST /register 400').map((l) => l.level)).toEqual([40]);
    expect(app.logs).not.toContain('never-logged');
  });

  it('writes readable lines with ISO times when asked for (as in a terminal)', async () => {
    app = await start({ LOG_FORMAT: 'pretty' });
    const lines = app.logs.split('\n').filter((line) => line.trim() !== '');
    for (const line of lines) expect(line).toMatch(/^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] (INFO|WARN): /);
    expect(lines.map((l) => l.slice(l.indexOf(']') + 2))).toEqual([
      expect.stringMatching(/^WARN: AppConfigService: .*app_map\.hjson is missing/),
      expect.stringMatching(/^WARN: AppConfigService: .*instance_map\.hjson is missing/),
      `INFO: api: listening on http://127.0.0.1:${ports.api}: /register, /unregister, /docs, /health, /metrics`,
      `INFO: listener: listening on http://127.0.0.1:${ports.listener}: /health, /metrics, /status`,
    ]);
  });
});

describe('logs: a failing callback', () => {
  let h: ListenerHarness;

  beforeAll(async () => {
    h = await ListenerHarness.start({ instances: { alpha: { version: '4.3.0', record: true } }, env: { LOG_LEVEL: 'info' } });
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('is said at info once when it starts failing and once when it delivers again, not per attempt', async () => {
    const token = `tok_${randomBytes(8).toString('hex')}`;
    h.fake('alpha').addToken(token);
    h.receiver.script('/cb/flaky', [], { status: 503 });
    await h.registered({ instance: 'alpha', tag: 'flaky', token });
    await h.fake('alpha').waitForConnection((c) => c.token === token);
    for (const id of ['1', '2', '3']) h.fake('alpha').emit(token, { event: 'notification', payload: JSON.stringify({ id }) });
    await waitFor(() => h.receiver.requestsTo('/cb/flaky').length >= 5, { what: 'several failed attempts' });
    const failing = () => jsonLines(h.listener.logs).filter((l) => l.msg.includes('/cb/flaky failing (HTTP 503)'));
    expect(failing().map((l) => l.level)).toEqual([30]);
    h.receiver.script('/cb/flaky', [], { status: 200 });
    await h.receiver.waitForDelivered(3, '/cb/flaky');
    await waitFor(() => h.listener.logs.includes('callback delivers again'), { what: 'the recovery line' });
    expect(failing()).toHaveLength(1);
    expect(h.listener.logs).not.toContain(token);
    expect(await h.metric('msl_callbacks_total', { outcome: 'retry_scheduled', app: APP_ID })).toBeGreaterThanOrEqual(4);
  });
});
