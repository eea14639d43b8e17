import { parseSettings } from '@app/config';
import { PendingDeliveryEntity, RegistrationEntity, RegistrationRepository } from '@app/database';
import { hashSecret } from '@app/security';
import { AppProcess, freePort, writeConfigDir } from '../support/app-process';
import { CallbackReceiver } from '../support/callback-receiver';
import { FakeMastodon } from '../support/fake-mastodon';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { seqOf } from './callback-test-app';

const APP_ID = 'durable.app';
const INSTANCE_URL = 'https://durable.example';
const TOKEN = 'durable-token-never-logged';
const APP_SECRET = 'app-secret-never-logged';

/**
 * The real listener process between a fake Mastodon and a callback receiver:
 * what was stored in the retry table survives a SIGKILL.
 */
describe('callback durability across a listener crash (listener process, fake Mastodon, receiver)', () => {
  let db: TestDatabase;
  let mastodon: FakeMastodon;
  let receiver: CallbackReceiver;
  let listener: AppProcess | undefined;
  let env: Record<string, string>;
  let registrationId: number;

  beforeAll(async () => {
    db = await createTestDatabase();
    mastodon = await FakeMastodon.start({ version: '4.3.0' });
    mastodon.addToken(TOKEN);
    receiver = await CallbackReceiver.start();
    const configDir = writeConfigDir(
      { [APP_ID]: { secret: APP_SECRET, callbackUrlPrefix: 'http://127.0.0.1:' } },
      { [INSTANCE_URL]: { replaceUrl: mastodon.url, replaceUrlWeb: mastodon.url } },
    );
    env = {
      ...db.env,
      CONFIG_DIR: configDir,
      LISTENER_HOST: '127.0.0.1',
      LISTENER_PORT: String(await freePort()),
      LISTENER_POLL_INTERVAL_MS: '200',
      CALLBACK_RETRY_POLL_MS: '200',
      CALLBACK_RETRY_BASE_MS: '200',
      CALLBACK_RETRY_MAX_MS: '1000',
      CALLBACK_TIMEOUT_MS: '2000',
      SHUTDOWN_TIMEOUT_MS: '4000',
    };
    const registrations = new RegistrationRepository(
      db.dataSource.getRepository(RegistrationEntity),
      parseSettings(db.env),
    );
    const key = { instanceUrl: INSTANCE_URL, appId: APP_ID, tag: 'durable-user' };
    await registrations.upsert({
      ...key,
      accessToken: TOKEN,
      appSecretHash: hashSecret(APP_SECRET),
      callbackUrl: receiver.url('/durable'),
      endpoint: 'user',
      lastUpdate: Date.now(),
    });
    registrationId = (await registrations.findByKey(key))!.id;
  });

  afterAll(async () => {
    await listener?.stop('SIGKILL');
    await receiver?.stop();
    await mastodon?.stop();
    await db?.drop();
  });

  const storedCount = () =>
    db.dataSource.getRepository(PendingDeliveryEntity).count({ where: { registrationId } });

  const emit = (seq: number) =>
    mastodon.emit(TOKEN, {
      event: 'notification',
      payload: JSON.stringify({ id: String(1000 + seq), type: 'mention', seq }),
    });

  it('delivers every stored event, in order and once, after SIGKILL, restart and the receiver coming back', async () => {
    await receiver.stop();
    listener = await AppProcess.start('listener', env);
    const first = await mastodon.waitForConnection((c) => c.token === TOKEN);
    for (let seq = 0; seq < 10; seq++) expect(emit(seq)).toBe(1);
    await waitFor(async () => (await storedCount()) === 10, {
      what: '10 events in the retry table',
    });

    await listener.stop('SIGKILL');
    expect(listener.exitStatus?.signal).toBe('SIGKILL');
    listener = await AppProcess.start('listener', env);
    await mastodon.waitForConnection((c) => c.token === TOKEN && c.id > first.id);
    // events arriving after the restart queue behind the stored ones
    for (let seq = 10; seq < 15; seq++) expect(emit(seq)).toBe(1);
    await waitFor(async () => (await storedCount()) === 15, {
      what: '15 events in the retry table',
    });
    expect(receiver.requests).toHaveLength(0);

    await receiver.restart();

    const delivered = await receiver.waitForDelivered(15, '/durable', 30_000);
    expect(delivered.map((r) => seqOf(r.json))).toEqual([...Array(15).keys()]);
    expect(new Set(delivered.map((r) => r.headers['webhook-id'])).size).toBe(15);
    await waitFor(async () => (await storedCount()) === 0, { what: 'the retry table to drain' });
    // nothing more arrives: each event was delivered exactly once
    emit(99);
    await receiver.waitForDelivered(16, '/durable');
    expect(receiver.delivered('/durable').map((r) => seqOf(r.json))).toEqual([
      ...Array(15).keys(),
      99,
    ]);

    const metrics = await fetch(`http://127.0.0.1:${env.LISTENER_PORT}/metrics`).then((r) =>
      r.text(),
    );
    expect(metrics).toContain(`msl_callbacks_total{outcome="delivered",app="${APP_ID}"} 16`);
    expect(metrics).toContain(`msl_callback_latency_seconds_count{app="${APP_ID}"} 16`);
    expect(metrics).toMatch(/^msl_retry_queue_depth \d+$/m);

    const exit = await listener.stop('SIGTERM');
    expect(exit.code).toBe(0);
    expect(listener.logs).not.toMatch(/never-logged/);
  });
});
