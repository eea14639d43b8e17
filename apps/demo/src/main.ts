import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { createApiApp } from '@app/api/api.bootstrap';
import { ConfigError, parseSettings, readEnvironment } from '@app/config';
import { prepareDatabase } from '@app/database';
import { createListenerApp } from '@app/listener/listener.bootstrap';
import { DemoInstance } from './demo-instance';
import { DemoReceiver } from './demo-receiver';

/** Apart from `npm start`'s (./data, 5488) and the benchmark's (5487), so that they can run side by side. */
const DEMO_PG_DIR = 'data/demo-postgres';
const DEMO_PG_PORT = '5486';
const DEMO_DB_NAME = 'mastodon_streaming_listener_demo';
const APP_ID = 'demo.app';
const DEADLINE_MS = 45_000;

function say(line: string): void {
  process.stdout.write(`demo: ${line}\n`);
}

function portOf(app: INestApplication): number {
  const server = app.getHttpServer() as { address(): AddressInfo };
  return server.address().port;
}

async function post(url: string, fields: Record<string, string>): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  return `${response.status} ${await response.text()}`;
}

function withDeadline<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up waiting for ${what}`)), DEADLINE_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * `npm run demo`: the whole relay on loopback, offline. Starts the database
 * (the embedded PostgreSQL under data/demo-postgres, or the server named by
 * DB_*), a Mastodon instance and an app server's callback receiver of its own,
 * the api and the listener; registers a user through POST /register, has the
 * instance emit a notification, prints the signed callback that arrives and
 * whether its signature verified, then stops everything it started.
 */
async function main(): Promise<number> {
  const begun = Date.now();
  const stops: { what: string; stop: () => Promise<unknown> }[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const { what, stop } of stops.reverse()) {
        await stop().catch((error: Error) => say(`could not stop ${what}: ${error.message}`));
      }
    })());
  const onSignal = () => void stopAll().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const token = `demo-token-${randomBytes(8).toString('hex')}`;
    const secret = `demo-secret-${randomBytes(8).toString('hex')}`;
    const instance = await DemoInstance.start(token);
    stops.push({ what: 'the Mastodon instance', stop: () => instance.stop() });
    const receiver = await DemoReceiver.start(secret);
    stops.push({ what: 'the callback receiver', stop: () => receiver.stop() });
    say(`Mastodon instance on ${instance.url}, callback receiver on ${receiver.url}`);

    const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'msl-demo-'));
    stops.push({ what: 'the config folder', stop: async () => fs.rmSync(configDir, { recursive: true, force: true }) });
    const appMap = { [APP_ID]: { secret, callbackUrlPrefix: `${receiver.url}/` } };
    const instanceMap = { [instance.url]: { allowPrivateAddress: true } };
    fs.writeFileSync(path.join(configDir, 'app_map.hjson'), JSON.stringify(appMap, null, 2));
    fs.writeFileSync(path.join(configDir, 'instance_map.hjson'), JSON.stringify(instanceMap, null, 2));

    const environment = readEnvironment();
    const embedded = !environment.DB_HOST?.trim();
    const settings = parseSettings({
      ...environment,
      ...(embedded
        ? { EMBEDDED_PG_DIR: DEMO_PG_DIR, EMBEDDED_PG_PORT: DEMO_PG_PORT, DB_NAME: DEMO_DB_NAME }
        : {}),
      HOST: '127.0.0.1',
      PORT: '0',
      LISTENER_HOST: '127.0.0.1',
      LISTENER_PORT: '0',
      CONFIG_DIR: configDir,
      LISTENER_POLL_INTERVAL_MS: '250',
      LOG_LEVEL: environment.DEMO_LOG_LEVEL ?? 'warn',
    });
    say(embedded ? `starting the embedded PostgreSQL in ${DEMO_PG_DIR} (port ${DEMO_PG_PORT})` : 'using the database named by DB_*');
    const database = await prepareDatabase(settings, (line) => say(line));
    stops.push({ what: 'the database', stop: () => database.stop() });

    const api = await createApiApp(database.settings);
    stops.push({ what: 'the api', stop: () => api.close() });
    const listener = await createListenerApp(database.settings);
    stops.push({ what: 'the listener', stop: () => listener.close() });
    const apiUrl = `http://127.0.0.1:${portOf(api)}`;
    say(`api on ${apiUrl}, listener on http://127.0.0.1:${portOf(listener)}`);

    const user = { instance_url: instance.url, tag: 'demo-user-1', app_id: APP_ID, app_secret: secret };
    const registered = await post(`${apiUrl}/register`, {
      ...user,
      access_token: token,
      callback_url: `${receiver.url}/callback`,
    });
    say(`POST /register -> ${registered}`);
    if (!registered.startsWith('202')) throw new Error('the registration was refused');
    stops.push({
      what: 'the registration',
      stop: async () => say(`POST /unregister -> ${await post(`${apiUrl}/unregister`, user)}`),
    });

    const stream = await withDeadline(instance.waitForStream(), 'the listener to open the stream');
    say(`the listener opened the stream ${stream}`);
    const notification = instance.notify('alice');
    say(`the instance emitted notification ${notification.id} (alice followed the user)`);

    const callback = await withDeadline(receiver.nextCallback(), 'the callback');
    say(`callback received: POST ${callback.path}`);
    for (const [name, value] of Object.entries(callback.headers)) process.stdout.write(`  ${name}: ${value}\n`);
    process.stdout.write(`  body: ${callback.body}\n`);
    if (!callback.verified) throw new Error(`its webhook-signature did not verify: ${callback.failure}`);
    say('its webhook-signature verified with the standardwebhooks package');
    return 0;
  } catch (error) {
    const message = error instanceof ConfigError ? `configuration error: ${error.message}` : (error as Error).message;
    say(`failed: ${message}`);
    return 1;
  } finally {
    await stopAll();
    say(`stopped everything it started (${((Date.now() - begun) / 1000).toFixed(1)} s in all)`);
  }
}

void main().then((code) => process.exit(code));
