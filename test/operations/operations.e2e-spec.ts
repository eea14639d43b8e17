import { AppProcess, freePort, writeConfigDir } from '../support/app-process';
import { CallbackReceiver } from '../support/callback-receiver';
import { FakeMastodon } from '../support/fake-mastodon';
import { TcpProxy } from '../support/tcp-proxy';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { createOriginalTable, insertOriginalRow } from '../upgrade/original-table';

const APP_ID = 'jp.juggler.subwaytooter';
const APP_SECRET = 'original-plain-secret';
const INSTANCE = 'https://legacy.test';

const FAST = {
  LISTENER_POLL_INTERVAL_MS: '200',
  // each test's listener is killed: the next one takes the dead one's share after this
  LISTENER_NODE_TIMEOUT_MS: '2000',
  STREAM_RECONNECT_BASE_MS: '50',
  STREAM_RECONNECT_MAX_MS: '500',
  CALLBACK_RETRY_POLL_MS: '100',
  CALLBACK_RETRY_BASE_MS: '50',
  CALLBACK_RETRY_MAX_MS: '500',
  LOG_LEVEL: 'info',
};

function notification(id: string): { event: string; payload: string } {
  return { event: 'notification', payload: JSON.stringify({ id, type: 'mention' }) };
}

/**
 * Operating the listener: taking over the original program's table, health
 * while the database is away, and a graceful stop that loses no callback.
 * The tests run in order on one database: later ones use the rows the first one migrated.
 */
describe('operations', () => {
  let db: TestDatabase;
  let fake: FakeMastodon;
  let receiver: CallbackReceiver;
  let configDir: string;
  let listener: AppProcess | undefined;

  const listenerEnv = async (extra: Record<string, string> = {}) => ({
    ...db.env,
    ...FAST,
    CONFIG_DIR: configDir,
    LISTENER_PORT: String(await freePort()),
    ...extra,
  });
  const health = async (app: AppProcess) =>
    (await fetch(`http://127.0.0.1:${app.env.LISTENER_PORT}/health`)).status;

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    fake = await FakeMastodon.start();
    receiver = await CallbackReceiver.start();
    configDir = writeConfigDir(
      { [APP_ID]: { secret: APP_SECRET, callbackUrlPrefix: receiver.url('/') } },
      { [INSTANCE]: { replaceUrl: fake.url, replaceUrlWeb: fake.url } },
    );
  });

  afterEach(async () => {
    await listener?.stop('SIGKILL');
    listener = undefined;
  });

  afterAll(async () => {
    await fake?.stop();
    await receiver?.stop();
    await db?.drop();
  });

  it("takes over the original program's table: every registration's stream opens", async () => {
    await createOriginalTable(db.dataSource, false);
    const row = { instanceUrl: INSTANCE, appId: APP_ID, appSecret: APP_SECRET, endpoint: null, lastUpdate: Date.now() };
    for (const tag of ['u1', 'u2', 'u3']) {
      fake.addToken(`legacy-${tag}`);
      await insertOriginalRow(db.dataSource, { ...row, tag, accessToken: `legacy-${tag}`, callbackUrl: receiver.url(`/legacy/${tag}`) });
    }
    // the original had no unique index: the same key twice, the newer row wins
    fake.addToken('legacy-u1-newer');
    await insertOriginalRow(db.dataSource, {
      ...row,
      tag: 'u1',
      lastUpdate: row.lastUpdate + 1_000,
      accessToken: 'legacy-u1-newer',
      callbackUrl: receiver.url('/legacy/u1'),
    });

    listener = await AppProcess.start('listener', await listenerEnv({ DB_MIGRATE: 'true' }));
    for (const token of ['legacy-u1-newer', 'legacy-u2', 'legacy-u3']) {
      await fake.waitForConnection((c) => c.token === token && !c.closed);
    }
    expect(fake.openConnections('legacy-u1')).toHaveLength(0);

    fake.emit('legacy-u2', notification('42'));
    const [delivered] = await receiver.waitForDelivered(1, '/legacy/u2');
    expect(delivered.json).toEqual({
      instanceUrl: INSTANCE,
      tag: 'u2',
      appId: APP_ID,
      event: 'notification',
      payload: notification('42').payload,
    });
  });

  it('answers /health 503 while its database is unreachable, and 200 again after', async () => {
    const proxy = await TcpProxy.start({ host: db.settings.host, port: db.settings.port ?? 0 });
    try {
      listener = await AppProcess.start('listener', await listenerEnv({ DB_HOST: '127.0.0.1', DB_PORT: String(proxy.port) }));
      await waitFor(async () => (await health(listener!)) === 200, { what: 'healthy listener' });
      proxy.cut();
      await waitFor(async () => (await health(listener!)) === 503, { what: '/health 503' });
      proxy.restore();
      await waitFor(async () => (await health(listener!)) === 200, { what: '/health 200 again' });
    } finally {
      await listener?.stop('SIGKILL');
      await proxy.close();
    }
  });

  it('on SIGTERM persists undelivered callbacks and exits 0; the next start delivers them in order', async () => {
    fake.addToken('graceful');
    await db.dataSource.query(
      db.settings.dialect === 'postgres'
        ? `UPDATE stream_listener_registrations SET "accessToken" = 'graceful', "callbackUrl" = $1 WHERE tag = 'u3'`
        : "UPDATE stream_listener_registrations SET `accessToken` = 'graceful', `callbackUrl` = ? WHERE tag = 'u3'",
      [receiver.url('/graceful')],
    );
    // the first callback hangs far longer than the shutdown allows; the others wait behind it
    receiver.script('/graceful', [{ status: 200, delayMs: 60_000 }]);
    listener = await AppProcess.start('listener', await listenerEnv({ SHUTDOWN_TIMEOUT_MS: '4000' }));
    await fake.waitForConnection((c) => c.token === 'graceful' && !c.closed);
    for (const id of ['1', '2', '3', '4', '5']) fake.emit('graceful', notification(id));
    await receiver.waitForRequests(1, '/graceful');

    const exit = await listener.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(fake.openConnections('graceful')).toHaveLength(0);

    receiver.script('/graceful', [], { status: 200 });
    listener = await AppProcess.start('listener', await listenerEnv());
    const delivered = await receiver.waitForDelivered(5, '/graceful');
    const ids = delivered.map((r) => JSON.parse((r.json as { payload: string }).payload).id as string);
    expect(ids).toEqual(['1', '2', '3', '4', '5']);
  });

  it('exposes the listener metrics, counting what happened', async () => {
    listener = await AppProcess.start('listener', await listenerEnv());
    await fake.waitForConnection((c) => c.token === 'legacy-u2' && !c.closed);
    fake.emit('legacy-u2', notification('43'));
    fake.emit('legacy-u2', { event: 'update', payload: '{}' });
    await receiver.waitForDelivered(2, '/legacy/u2');
    const sampleOf = (body: string, sample: string) =>
      Number(new RegExp(`^${sample.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(body)?.[1] ?? NaN);
    // the three streams open on their own schedule: wait until the listener counts them all
    const text = await waitFor(async () => {
      const body = await (await fetch(`http://127.0.0.1:${listener!.env.LISTENER_PORT}/metrics`)).text();
      const counted = sampleOf(body, 'msl_events_received_total{event="update"}') >= 1 && sampleOf(body, `msl_streams_open{instance="${INSTANCE}"}`) >= 3;
      return counted ? body : undefined;
    });
    const value = (sample: string) => sampleOf(text, sample);
    expect(value(`msl_streams_open{instance="${INSTANCE}"}`)).toBeGreaterThanOrEqual(3);
    expect(value(`msl_stream_connects_total{instance="${INSTANCE}"}`)).toBeGreaterThanOrEqual(3);
    expect(value('msl_events_received_total{event="notification"}')).toBeGreaterThanOrEqual(1);
    expect(value(`msl_callbacks_total{outcome="delivered",app="${APP_ID}"}`)).toBeGreaterThanOrEqual(1);
    expect(value(`msl_callback_latency_seconds_count{app="${APP_ID}"}`)).toBeGreaterThanOrEqual(1);
    expect(value('msl_reconcile_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(value('msl_reconcile_last_success_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(text).toMatch(/^msl_retry_queue_depth \d+$/m);
  });
});
