/**
 * How much the retry table grows per 10,000 undelivered events with realistic
 * ~600-byte bodies. Not part of `npm test`. Needs a real server:
 *
 *   DB_DIALECT=postgres DB_HOST=127.0.0.1 DB_PORT=5432 DB_USER=postgres DB_NAME=test \
 *     npx ts-node -T -r tsconfig-paths/register test/callback/measure-retry-table.ts
 *   DB_DIALECT=mariadb DB_HOST=127.0.0.1 DB_PORT=3306 DB_USER=root DB_NAME=test \
 *     npx ts-node -T -r tsconfig-paths/register test/callback/measure-retry-table.ts
 */
import { randomUUID } from 'node:crypto';
import { parseSettings } from '@app/config';
import {
  DELIVERIES_TABLE,
  NewPendingDelivery,
  PendingDeliveryEntity,
  PendingDeliveryRepository,
  RegistrationEntity,
  RegistrationRepository,
} from '@app/database';
import { configuredServer } from '../support/database-server';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const EVENTS = 10_000;
const REGISTRATIONS = 100;

/** A callback body the size Mastodon notifications usually make (the payload is a JSON string). */
function realisticBody(seq: number, registrationId: number): string {
  const notification = {
    id: String(100_000 + seq),
    type: 'mention',
    created_at: new Date().toISOString(),
    account: { id: '1093', username: 'alice', acct: 'alice@remote.example', display_name: 'Alice' },
    status: {
      id: String(110_000_000 + seq),
      visibility: 'public',
      language: 'en',
      content:
        '<p><span class="h-card"><a href="https://mastodon.example/@bob">@bob</a></span> hello, a short reply</p>',
      url: `https://remote.example/@alice/${110_000_000 + seq}`,
    },
  };
  return JSON.stringify({
    instanceUrl: 'https://mastodon.example',
    tag: `device-${registrationId}-${randomUUID().slice(0, 8)}`,
    appId: 'jp.juggler.subwaytooter',
    event: 'notification',
    payload: JSON.stringify(notification),
  });
}

async function tableBytes(db: TestDatabase): Promise<number> {
  if (db.settings.dialect === 'postgres') {
    const [row] = await db.dataSource.query<{ bytes: string }[]>(
      `SELECT pg_total_relation_size('${DELIVERIES_TABLE}') AS bytes`,
    );
    return Number(row.bytes);
  }
  await db.dataSource.query(`ANALYZE TABLE ${DELIVERIES_TABLE}`);
  const [row] = await db.dataSource.query<{ bytes: string | number }[]>(
    `SELECT data_length + index_length AS bytes FROM information_schema.TABLES WHERE table_schema = DATABASE() AND table_name = ?`,
    [DELIVERIES_TABLE],
  );
  return Number(row.bytes);
}

async function main(): Promise<void> {
  const server = configuredServer();
  if (!server) throw new Error('set DB_DIALECT/DB_HOST/... (a real database server)');
  process.env.MSL_TEST_DB = JSON.stringify(server);
  const db = await createTestDatabase();
  try {
    const registrations = new RegistrationRepository(
      db.dataSource.getRepository(RegistrationEntity),
      parseSettings(db.env),
    );
    const pending = new PendingDeliveryRepository(
      db.dataSource.getRepository(PendingDeliveryEntity),
    );
    const ids: number[] = [];
    for (let i = 0; i < REGISTRATIONS; i++) {
      const key = {
        instanceUrl: 'https://mastodon.example',
        appId: 'jp.juggler.subwaytooter',
        tag: `device-${i}`,
      };
      await registrations.upsert({
        ...key,
        accessToken: 'x'.repeat(43),
        appSecretHash: 'sha256:00',
        callbackUrl: 'https://push.example/callback',
        endpoint: 'user',
        lastUpdate: Date.now(),
      });
      ids.push((await registrations.findByKey(key))!.id);
    }
    const before = await tableBytes(db);
    const now = Date.now();
    const rows: NewPendingDelivery[] = [];
    let bodyBytes = 0;
    for (let seq = 0; seq < EVENTS; seq++) {
      const registrationId = ids[seq % ids.length];
      const body = realisticBody(seq, registrationId);
      bodyBytes += Buffer.byteLength(body);
      rows.push({
        registrationId,
        webhookId: `msg_${randomUUID().replace(/-/g, '')}`,
        event: 'notification',
        body,
        attempts: 1,
        receivedAt: now,
        nextAttemptAt: now + 60_000,
        deadlineAt: now + 24 * 3_600_000,
        lastError: 'ECONNREFUSED',
      });
    }
    const started = performance.now();
    await pending.append(rows);
    const appendMs = performance.now() - started;
    const after = await tableBytes(db);
    const result = {
      dialect: db.settings.dialect,
      events: EVENTS,
      averageBodyBytes: Math.round(bodyBytes / EVENTS),
      tableBytesBefore: before,
      tableBytesAfter: after,
      growthBytes: after - before,
      growthMiB: Number(((after - before) / 1_048_576).toFixed(2)),
      bytesPerEvent: Math.round((after - before) / EVENTS),
      appendMs: Math.round(appendMs),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await db.drop();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
