import { CallbackReceiver } from '../support/callback-receiver';
import { writeConfigDir } from '../support/app-process';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { CallbackTestApp, createRegistration, notificationEvent, seqOf } from './callback-test-app';

const APP_ID = 'recovery.app';
const REGISTRATIONS = 8;
const EVENTS_EACH = 5;
/**
 * The first retry waits at least half of this: far longer than the test
 * waits, so rows sent within the wait were sent because their host answered,
 * not because their own backoff ran out.
 */
const RETRY_BASE_MS = 120_000;

describe('callback host recovery (library in-process, real database, real receiver)', () => {
  let db: TestDatabase;
  let receiver: CallbackReceiver;
  let app: CallbackTestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await CallbackReceiver.start();
    const configDir = writeConfigDir(
      { [APP_ID]: { secret: 'app-secret', callbackUrlPrefix: 'http://127.0.0.1:' } },
      { '*': {} },
    );
    app = await CallbackTestApp.start(db, {
      CONFIG_DIR: configDir,
      CALLBACK_RETRY_BASE_MS: String(RETRY_BASE_MS),
      CALLBACK_RETRY_MAX_MS: String(4 * RETRY_BASE_MS),
    });
  });

  afterAll(async () => {
    await app?.close();
    await receiver?.stop();
    await db?.drop();
  });

  it('once one request to a host that was down succeeds, its backed-off deliveries drain in order', async () => {
    const registrations = [];
    for (let i = 0; i < REGISTRATIONS; i++) {
      registrations.push(
        await createRegistration(app.registrations, {
          appId: APP_ID,
          callbackUrl: receiver.url(`/down/${i}`),
        }),
      );
    }
    await receiver.stop();
    for (let seq = 0; seq < EVENTS_EACH; seq++)
      for (const registration of registrations)
        app.dispatcher.dispatch(notificationEvent(registration, seq));
    await waitFor(async () => (await app.pending.count()) === REGISTRATIONS * EVENTS_EACH, {
      what: 'every event stored for a retry',
    });
    const [head] = await app.pending.findFirst(registrations[0].id, 1);
    expect(head.attempts).toBe(1);
    expect(head.nextAttemptAt).toBeGreaterThan(Date.now() + RETRY_BASE_MS / 4);

    await receiver.restart();
    // a registration of the same host that never failed: its event goes out at once and succeeds
    const bystander = await createRegistration(app.registrations, {
      appId: APP_ID,
      callbackUrl: receiver.url('/bystander'),
    });
    app.dispatcher.dispatch(notificationEvent(bystander, 0));

    await receiver.waitForDelivered(REGISTRATIONS * EVENTS_EACH + 1, undefined, RETRY_BASE_MS / 4);
    for (let i = 0; i < REGISTRATIONS; i++) {
      expect(receiver.delivered(`/down/${i}`).map((r) => seqOf(r.json))).toEqual([0, 1, 2, 3, 4]);
    }
    await waitFor(async () => (await app.pending.count()) === 0, {
      what: 'the delivered rows deleted',
    });
    expect(app.logger.lines.join('\n')).toMatch(
      new RegExp(`callback host http://127\\.0\\.0\\.1:${receiver.port} answers again`),
    );
  });
});
