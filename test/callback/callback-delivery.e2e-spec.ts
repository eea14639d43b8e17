import { lookup } from 'node:dns/promises';
import * as os from 'node:os';
import { Webhook } from 'standardwebhooks';
import { PendingDeliveryEntity } from '@app/database';
import { CallbackReceiver } from '../support/callback-receiver';
import { writeConfigDir } from '../support/app-process';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { CallbackTestApp, createRegistration, notificationEvent, seqOf } from './callback-test-app';

const TRUSTED_APP = 'trusted.app';
const PUBLIC_ONLY_APP = 'public.only.app';
const APP_SECRET = 'app-secret-never-logged';
// non-ASCII on purpose: the signing key is the secret's UTF-8 bytes
const WEBHOOK_SECRET = 'wh-sécret-🔑-never-logged';

describe('callback delivery (library in-process, real database, real receiver)', () => {
  let db: TestDatabase;
  let receiver: CallbackReceiver;
  let app: CallbackTestApp;
  let configDir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await CallbackReceiver.start();
    configDir = writeConfigDir(
      {
        [TRUSTED_APP]: {
          secret: APP_SECRET,
          webhookSecret: WEBHOOK_SECRET,
          callbackUrlPrefix: 'http://127.0.0.1:',
        },
        [PUBLIC_ONLY_APP]: { secret: APP_SECRET },
      },
      { '*': {} },
    );
    app = await CallbackTestApp.start(db, { CONFIG_DIR: configDir });
  });

  afterAll(async () => {
    await app?.close();
    await receiver?.stop();
    await db?.drop();
  });

  const trusted = (path: string) =>
    createRegistration(app.registrations, { appId: TRUSTED_APP, callbackUrl: receiver.url(path) });

  it('retries 503 ×3, then delivers once with the same webhook-id and a valid signature each time', async () => {
    const path = '/flaky';
    receiver.script(path, [{ status: 503 }, { status: 503 }, { status: 503 }], { status: 200 });
    const registration = await trusted(path);
    const event = notificationEvent(registration, 1);
    const retriesBefore = await app.outcomes('retry_scheduled');

    app.dispatcher.dispatch(event);

    const [delivered] = await receiver.waitForDelivered(1, path);
    const attempts = receiver.requestsTo(path);
    expect(attempts.map((r) => r.status)).toEqual([503, 503, 503, 200]);
    expect(new Set(attempts.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(delivered.headers['webhook-id']).toMatch(/^msg_[A-Za-z0-9]+$/);
    expect(delivered.headers['content-type']).toBe('application/json');
    expect(delivered.headers['user-agent']).toMatch(/mastodon-streaming-listener/);
    expect(delivered.json).toEqual({
      instanceUrl: registration.instanceUrl,
      tag: registration.tag,
      appId: TRUSTED_APP,
      event: 'notification',
      payload: event.payload,
    });
    const verifier = new Webhook(Buffer.from(WEBHOOK_SECRET, 'utf8'), { format: 'raw' });
    for (const attempt of attempts) {
      expect(() =>
        verifier.verify(attempt.rawBody, attempt.headers as Record<string, string>),
      ).not.toThrow();
    }
    // a signature made with the app secret instead must not verify
    const wrongKey = new Webhook(Buffer.from(APP_SECRET, 'utf8'), { format: 'raw' });
    expect(() =>
      wrongKey.verify(delivered.rawBody, delivered.headers as Record<string, string>),
    ).toThrow();
    expect((await app.outcomes('retry_scheduled')) - retriesBefore).toBe(3);
    await waitFor(async () => (await app.pending.countForRegistration(registration.id)) === 0, {
      what: 'the retry table to be empty for the registration',
    });
    expect(app.logger.lines.join('\n')).not.toMatch(/never-logged/);
  });

  it('delivers every event exactly once and in order across retries, without holding up other registrations', async () => {
    const slowPath = '/order';
    const okPath = '/order-neighbour';
    receiver.script(
      slowPath,
      [{ status: 503 }, { status: 500 }, { closeSocket: true }, { status: 502 }],
      { status: 200 },
    );
    const failing = await trusted(slowPath);
    const healthy = await trusted(okPath);

    for (let seq = 0; seq < 30; seq++) {
      app.dispatcher.dispatch(notificationEvent(failing, seq));
      app.dispatcher.dispatch(notificationEvent(healthy, seq));
      // events also arrive while a request of the same registration is in flight
      if (seq % 3 === 2) await new Promise((resolve) => setTimeout(resolve, 1));
    }

    const neighbour = await receiver.waitForDelivered(30, okPath);
    expect(neighbour.map((r) => seqOf(r.json))).toEqual([...Array(30).keys()]);
    const delivered = await receiver.waitForDelivered(30, slowPath);
    expect(delivered.map((r) => seqOf(r.json))).toEqual([...Array(30).keys()]);
    // one request at a time per registration: every failed attempt was of the head (seq 0), none overtook it
    const attempts = receiver.requestsTo(slowPath);
    expect(attempts.slice(0, 5).map((r) => seqOf(r.json))).toEqual([0, 0, 0, 0, 0]);
    expect(attempts).toHaveLength(34);
    // each event of the healthy registration was sent exactly once
    expect(receiver.requestsTo(okPath)).toHaveLength(30);
    await waitFor(async () => (await app.pending.countForRegistration(failing.id)) === 0, {
      what: 'the retry table to drain',
    });
  });

  it('honours Retry-After in seconds: the next attempt is not earlier than asked', async () => {
    const path = '/retry-after-seconds';
    receiver.script(path, [{ status: 429, headers: { 'Retry-After': '2' } }], { status: 200 });
    const registration = await trusted(path);

    app.dispatcher.dispatch(notificationEvent(registration, 1));

    await receiver.waitForDelivered(1, path);
    const [first, second] = receiver.requestsTo(path);
    expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(2_000);
    expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
  });

  it('honours Retry-After as an HTTP date', async () => {
    const path = '/retry-after-date';
    const notBefore = new Date(Math.ceil((Date.now() + 2_500) / 1000) * 1000);
    receiver.script(path, [{ status: 503, headers: { 'Retry-After': notBefore.toUTCString() } }], {
      status: 200,
    });
    const registration = await trusted(path);

    app.dispatcher.dispatch(notificationEvent(registration, 1));

    const [delivered] = await receiver.waitForDelivered(1, path);
    expect(delivered.receivedAt).toBeGreaterThanOrEqual(notBefore.getTime());
  });

  it('retries a receiver that answers after the timeout', async () => {
    const path = '/slow';
    // answers well after CALLBACK_TIMEOUT_MS (2.5 s in these tests)
    receiver.script(path, [{ status: 200, delayMs: 4_000 }], { status: 200 });
    const registration = await trusted(path);

    app.dispatcher.dispatch(notificationEvent(registration, 7));

    const [delivered] = await receiver.waitForDelivered(1, path);
    const [first] = receiver.requestsTo(path);
    expect(first.status).toBeUndefined();
    expect(delivered).not.toBe(first);
    expect(delivered.headers['webhook-id']).toBe(first.headers['webhook-id']);
    expect(seqOf(delivered.json)).toBe(7);
  });

  it('removes the registration on 410 Gone and tells the listener', async () => {
    const path = '/gone';
    receiver.script(path, [{ status: 410 }], { status: 200 });
    const registration = await trusted(path);
    const goneIds: number[] = [];
    const unsubscribe = app.dispatcher.onRegistrationGone((id) => goneIds.push(id));
    const goneBefore = await app.outcomes('gone');

    app.dispatcher.dispatch(notificationEvent(registration, 1));

    await waitFor(() => goneIds.includes(registration.id), {
      what: 'the registration-gone notice',
    });
    unsubscribe();
    // the listener ends the registration (recorded as gone: test/listener/lifecycle.e2e-spec.ts)
    expect(await app.registrations.findById(registration.id)).toBeDefined();
    expect((await app.outcomes('gone')) - goneBefore).toBe(1);
    // events that still come in for it are not sent
    app.dispatcher.dispatch(notificationEvent(registration, 2));
    const marker = await trusted('/gone-marker');
    app.dispatcher.dispatch(notificationEvent(marker, 1));
    await receiver.waitForDelivered(1, '/gone-marker');
    expect(receiver.requestsTo(path)).toHaveLength(1);
  });

  it('drops an event answered with another 4xx without retrying it, and goes on with the next', async () => {
    const path = '/bad-request';
    receiver.script(
      path,
      [{ status: 400 }, { status: 301, headers: { Location: receiver.url('/elsewhere') } }],
      {
        status: 200,
      },
    );
    const registration = await trusted(path);
    const droppedBefore = await app.outcomes('dropped_status');

    for (const seq of [1, 2, 3]) app.dispatcher.dispatch(notificationEvent(registration, seq));

    const [delivered] = await receiver.waitForDelivered(1, path);
    expect(seqOf(delivered.json)).toBe(3);
    expect(receiver.requestsTo(path).map((r) => seqOf(r.json))).toEqual([1, 2, 3]);
    expect(receiver.requestsTo('/elsewhere')).toHaveLength(0);
    expect((await app.outcomes('dropped_status')) - droppedBefore).toBe(2);
    expect(await app.pending.countForRegistration(registration.id)).toBe(0);
  });

  it('refuses callbacks to loopback addresses for an app without callbackUrlPrefix', async () => {
    const hostAddresses = await lookup(os.hostname(), { all: true }).catch(() => []);
    // the machine's own name usually resolves to loopback: that exercises the check made when connecting
    const loopbackName =
      hostAddresses.length > 0 && hostAddresses.every((a) => /^127\.|^::1$/.test(a.address))
        ? os.hostname()
        : 'localhost';
    const targets = [
      receiver.url('/private-literal'),
      `http://${loopbackName}:${receiver.port}/private-name`,
      `http://[::ffff:127.0.0.1]:${receiver.port}/private-mapped`,
    ];
    const refusedBefore = await app.outcomes('refused');
    const registrations = [];
    for (const callbackUrl of targets) {
      const registration = await createRegistration(app.registrations, {
        appId: PUBLIC_ONLY_APP,
        callbackUrl,
      });
      registrations.push(registration);
      app.dispatcher.dispatch(notificationEvent(registration, 1));
    }

    await waitFor(async () => (await app.outcomes('refused')) - refusedBefore === targets.length, {
      what: 'three refused callbacks',
    });
    expect(receiver.requestsTo('/private-literal')).toHaveLength(0);
    expect(receiver.requestsTo('/private-name')).toHaveLength(0);
    expect(receiver.requestsTo('/private-mapped')).toHaveLength(0);
    for (const registration of registrations) {
      expect(await app.pending.countForRegistration(registration.id)).toBe(0);
    }
    expect(app.logger.lines.join('\n')).not.toMatch(/never-logged/);
  });

  it('drops a stored event whose deadline has passed without sending it', async () => {
    const path = '/expired';
    const registration = await trusted(path);
    const droppedBefore = await app.outcomes('dropped_deadline');
    await app.pending.append([
      {
        registrationId: registration.id,
        webhookId: 'msg_expired',
        event: 'notification',
        body: '{}',
        attempts: 3,
        receivedAt: Date.now() - 25 * 3_600_000,
        nextAttemptAt: Date.now() - 1_000,
        deadlineAt: Date.now() - 3_600_000,
      },
    ]);

    // the row is deleted just after the drop is counted
    await waitFor(
      async () =>
        (await app.pending.countForRegistration(registration.id)) === 0 &&
        (await app.outcomes('dropped_deadline')) - droppedBefore === 1,
      { what: 'the expired event to be dropped and deleted' },
    );
    expect(receiver.requestsTo(path)).toHaveLength(0);
  });

  it('sends stored retries to the callback URL the registration has now', async () => {
    const oldPath = '/moved-from';
    const newPath = '/moved-to';
    receiver.script(oldPath, [], { status: 503, headers: { 'Retry-After': '1' } });
    const registration = await trusted(oldPath);
    app.dispatcher.dispatch(notificationEvent(registration, 1));
    app.dispatcher.dispatch(notificationEvent(registration, 2));
    await waitFor(async () => (await app.pending.countForRegistration(registration.id)) === 2, {
      what: 'both events to be stored',
    });

    await app.registrations.upsert({
      instanceUrl: registration.instanceUrl,
      appId: registration.appId,
      tag: registration.tag,
      accessToken: 'token-never-logged',
      appSecretHash: 'sha256:00',
      callbackUrl: receiver.url(newPath),
      endpoint: 'user',
      lastUpdate: Date.now(),
    });

    const delivered = await receiver.waitForDelivered(2, newPath);
    expect(delivered.map((r) => seqOf(r.json))).toEqual([1, 2]);
    expect(receiver.delivered(oldPath)).toHaveLength(0);
  });
});

describe('callback delivery across a graceful shutdown (library in-process)', () => {
  let db: TestDatabase;
  let receiver: CallbackReceiver;
  let app: CallbackTestApp | undefined;
  let configDir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await CallbackReceiver.start();
    configDir = writeConfigDir(
      { [TRUSTED_APP]: { secret: APP_SECRET, callbackUrlPrefix: 'http://127.0.0.1:' } },
      { '*': {} },
    );
  });

  afterAll(async () => {
    await app?.close();
    await receiver?.stop();
    await db?.drop();
  });

  it('stores the event in flight and those queued behind it, and the next start delivers them in order', async () => {
    const path = '/shutdown';
    // the first attempt gets no answer before shutdown: it must be stored, not lost
    receiver.script(path, [{ status: 200, delayMs: 60_000 }], { status: 200 });
    app = await CallbackTestApp.start(db, { CONFIG_DIR: configDir, CALLBACK_TIMEOUT_MS: '30000' });
    const registration = await createRegistration(app.registrations, {
      appId: TRUSTED_APP,
      callbackUrl: receiver.url(path),
    });
    for (let seq = 0; seq < 5; seq++) app.dispatcher.dispatch(notificationEvent(registration, seq));
    await receiver.waitForRequests(1, path);

    const first = app;
    app = undefined;
    await first.close();
    expect(first.logger.lines.join('\n')).toMatch(/every undelivered callback is stored/);
    // nothing is lost if an event still comes in after shutdown, and nothing throws
    expect(() => first.dispatcher.dispatch(notificationEvent(registration, 99))).not.toThrow();

    const stored = await db.dataSource
      .getRepository(PendingDeliveryEntity)
      .find({ where: { registrationId: registration.id }, order: { id: 'ASC' } });
    expect(stored.map((row) => seqOf(JSON.parse(row.body)))).toEqual([0, 1, 2, 3, 4]);
    expect(stored[0].webhookId).toBe(receiver.requestsTo(path)[0].headers['webhook-id']);

    app = await CallbackTestApp.start(db, { CONFIG_DIR: configDir });
    const delivered = await receiver.waitForDelivered(5, path);
    expect(delivered.map((r) => seqOf(r.json))).toEqual([0, 1, 2, 3, 4]);
    expect(delivered[0].headers['webhook-id']).toBe(stored[0].webhookId);
    await waitFor(async () => (await app!.pending.countForRegistration(registration.id)) === 0, {
      what: 'the retry table to drain',
    });
  });
});
