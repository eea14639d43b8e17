/**
 * Callback path alone under load: the dispatcher in this process, a receiver
 * in a child process, a real database. Not part of `npm test`.
 *
 *   DB_DIALECT=postgres DB_HOST=127.0.0.1 DB_PORT=5432 DB_USER=postgres DB_NAME=test \
 *     npx ts-node -T -r tsconfig-paths/register test/callback/measure-dispatch-throughput.ts [rate] [seconds] [registrations]
 */
import { fork } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { writeConfigDir } from '../support/app-process';
import { configuredServer } from '../support/database-server';
import { createTestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { CallbackTestApp, createRegistration, notificationEvent } from './callback-test-app';

function runReceiver(): void {
  const latencies: number[] = [];
  const seen = new Set<string>();
  let requests = 0;
  let duplicates = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payload: string };
      const { id, sentAt } = JSON.parse(body.payload) as { id: string; sentAt: number };
      if (seen.has(id)) duplicates++;
      else {
        seen.add(id);
        latencies.push(Date.now() - sentAt);
      }
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () =>
    process.send?.({ port: (server.address() as AddressInfo).port }),
  );
  process.on('message', () => process.send?.({ requests, duplicates, latencies }));
  process.on('disconnect', () => process.exit(0));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const rate = Number(process.argv[2] ?? 2_000);
  const seconds = Number(process.argv[3] ?? 20);
  const registrationCount = Number(process.argv[4] ?? 500);
  const server = configuredServer();
  if (!server) throw new Error('set DB_DIALECT/DB_HOST/... (a real database server)');
  process.env.MSL_TEST_DB = JSON.stringify(server);
  Logger.overrideLogger(['error']);

  const receiver = fork(__filename, ['receiver'], {
    execArgv: __filename.endsWith('.ts')
      ? ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register']
      : [],
  });
  const port = await new Promise<number>((resolve) =>
    receiver.once('message', (m: { port: number }) => resolve(m.port)),
  );
  const db = await createTestDatabase();
  const configDir = writeConfigDir(
    { bench: { secret: 's', callbackUrlPrefix: 'http://127.0.0.1:' } },
    { '*': {} },
  );
  const app = await CallbackTestApp.start(db, {
    CONFIG_DIR: configDir,
    CALLBACK_TIMEOUT_MS: '10000',
    CALLBACK_MAX_CONCURRENCY_PER_HOST: process.env.CALLBACK_MAX_CONCURRENCY_PER_HOST ?? '64',
  });
  try {
    const registrations: Awaited<ReturnType<typeof createRegistration>>[] = [];
    for (let i = 0; i < registrationCount; i++) {
      registrations.push(
        await createRegistration(app.registrations, {
          appId: 'bench',
          callbackUrl: `http://127.0.0.1:${port}/cb`,
        }),
      );
    }
    const total = rate * seconds;
    let sent = 0;
    let carry = 0;
    const started = Date.now();
    const cpuStart = process.cpuUsage();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate));
        carry = due - sent;
        for (let i = 0; i < carry && sent < total; i++, sent++) {
          const event = notificationEvent(registrations[sent % registrations.length], sent);
          event.payload = JSON.stringify({
            id: String(sent),
            type: 'mention',
            sentAt: Date.now(),
            filler: 'x'.repeat(400),
          });
          app.dispatcher.dispatch(event);
        }
        if (sent >= total) {
          clearInterval(timer);
          resolve();
        }
      }, 10);
    });
    const ask = () =>
      new Promise<{ requests: number; duplicates: number; latencies: number[] }>((resolve) => {
        receiver.once(
          'message',
          (m: { requests: number; duplicates: number; latencies: number[] }) => resolve(m),
        );
        receiver.send('stats');
      });
    await waitFor(async () => (await ask()).latencies.length >= total, {
      timeoutMs: 120_000,
      intervalMs: 200,
      what: 'all deliveries',
    });
    const elapsed = (Date.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    const { latencies, requests, duplicates } = await ask();
    const sorted = [...latencies].sort((a, b) => a - b);
    const result = {
      dialect: server.dialect,
      rate,
      seconds,
      registrations: registrationCount,
      delivered: latencies.length,
      requests,
      duplicates,
      deliveriesPerSecond: Math.round(latencies.length / elapsed),
      latencyMs: {
        p50: percentile(sorted, 50),
        p90: percentile(sorted, 90),
        p99: percentile(sorted, 99),
        max: sorted[sorted.length - 1],
      },
      dispatcherCpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / (elapsed * 1000)) * 100),
      retryRows: await app.pending.count(),
      retriesScheduled: await app.outcomes('retry_scheduled'),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await app.close();
    receiver.kill();
    await db.drop();
  }
}

if (process.argv[2] === 'receiver') runReceiver();
else
  main().catch((error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  });
