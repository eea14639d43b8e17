/**
 * How fast a callback host's backlog drains once the host is back: the
 * dispatcher in this process with the production retry settings, a real
 * database, a receiver that refuses connections for a while. Not part of
 * `npm test`; runs at most down + 300 s.
 *
 *   DB_DIALECT=postgres DB_HOST=127.0.0.1 DB_PORT=5432 DB_USER=postgres DB_NAME=test \
 *     npx ts-node -T -r tsconfig-paths/register test/callback/measure-host-recovery.ts [registrations] [eventsEach] [downSeconds]
 */
import { Logger } from '@nestjs/common';
import { writeConfigDir } from '../support/app-process';
import { CallbackReceiver } from '../support/callback-receiver';
import { configuredServer } from '../support/database-server';
import { createTestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { CallbackTestApp, createRegistration, notificationEvent, seqOf } from './callback-test-app';

const APP_ID = 'measure.app';
const DRAIN_LIMIT_MS = 300_000;

async function main(): Promise<void> {
  const registrationCount = Number(process.argv[2] ?? 1_000);
  const eventsEach = Number(process.argv[3] ?? 20);
  const downSeconds = Number(process.argv[4] ?? 60);
  const total = registrationCount * eventsEach;
  const server = configuredServer();
  if (!server) throw new Error('set DB_DIALECT/DB_HOST/... (a real database server)');
  process.env.MSL_TEST_DB = JSON.stringify(server);
  Logger.overrideLogger(['error']);

  const db = await createTestDatabase();
  const receiver = await CallbackReceiver.start();
  const configDir = writeConfigDir(
    { [APP_ID]: { secret: 's', callbackUrlPrefix: 'http://127.0.0.1:' } },
    { '*': {} },
  );
  // the defaults of a production install, not the tests' short ones
  const app = await CallbackTestApp.start(db, {
    CONFIG_DIR: configDir,
    CALLBACK_TIMEOUT_MS: '10000',
    CALLBACK_RETRY_POLL_MS: '1000',
    CALLBACK_RETRY_BASE_MS: '1000',
    CALLBACK_RETRY_MAX_MS: '600000',
    SHUTDOWN_TIMEOUT_MS: '10000',
  });
  try {
    const registrations = [];
    for (let i = 0; i < registrationCount; i++) {
      registrations.push(
        await createRegistration(app.registrations, {
          appId: APP_ID,
          callbackUrl: receiver.url(`/r/${i}`),
        }),
      );
    }
    await receiver.stop();
    const downAt = Date.now();
    for (let seq = 0; seq < eventsEach; seq++) {
      for (const registration of registrations)
        app.dispatcher.dispatch(notificationEvent(registration, seq));
    }
    await waitFor(async () => (await app.pending.count()) === total, {
      timeoutMs: 120_000,
      what: `${total} events in the retry table`,
    });
    const leftDown = downAt + downSeconds * 1000 - Date.now();
    if (leftDown > 0) await new Promise((resolve) => setTimeout(resolve, leftDown));
    const failedAttempts = await app.outcomes('retry_scheduled');

    await receiver.restart();
    const backAt = Date.now();
    let drainedAt: number | undefined;
    const progress = setInterval(
      () => process.stdout.write(`\r${receiver.delivered().length} / ${total} delivered`),
      1_000,
    );
    try {
      await waitFor(() => receiver.delivered().length >= total, {
        timeoutMs: DRAIN_LIMIT_MS,
        intervalMs: 20,
      });
      drainedAt = Date.now();
    } catch {
      // reported below as not drained within the limit
    } finally {
      clearInterval(progress);
    }
    const delivered = receiver.delivered();
    let outOfOrder = 0;
    const lastSeq = new Map<string, number>();
    for (const request of delivered) {
      const seq = seqOf(request.json);
      if ((lastSeq.get(request.path) ?? -1) > seq) outOfOrder += 1;
      lastSeq.set(request.path, seq);
    }
    const firstDelivery = delivered[0]?.receivedAt;
    const result = {
      dialect: db.settings.dialect,
      registrations: registrationCount,
      events: total,
      receiverDownSeconds: Math.round((backAt - downAt) / 100) / 10,
      failedAttemptsWhileDown: failedAttempts,
      firstDeliveryAfterReturnSeconds:
        firstDelivery === undefined ? null : Math.round((firstDelivery - backAt) / 100) / 10,
      drainedAfterReturnSeconds:
        drainedAt === undefined ? null : Math.round((drainedAt - backAt) / 100) / 10,
      delivered: delivered.length,
      requestsAfterReturn: receiver.requestsTo().length,
      outOfOrder,
    };
    process.stdout.write(`\n${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await app.close();
    await receiver.stop();
    await db.drop();
  }
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
