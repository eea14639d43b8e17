import * as fs from 'node:fs';
import { FakeMastodon } from '../../test/support/fake-mastodon';
import { preciseNow } from './latency-stats';

/**
 * One of the benchmark's Mastodon instances, in its own process: the test
 * suite's fake instance accepting the tokens `bench-<i>` with i modulo
 * BENCH_INSTANCE_COUNT equal to its BENCH_INSTANCE_INDEX (of BENCH_TOKENS in
 * all), plus an emitter that sends `rate` notifications per second spread
 * over those streams, each payload carrying a sequence number (unique across
 * instances) and its send time. https/wss with BENCH_TLS_KEY and
 * BENCH_TLS_CERT. Controlled over IPC.
 */
const allTokens = Number(process.env.BENCH_TOKENS ?? 0);
const index = Number(process.env.BENCH_INSTANCE_INDEX ?? 0);
const count = Math.max(1, Number(process.env.BENCH_INSTANCE_COUNT ?? 1));
const tokens = Math.floor(allTokens / count) + (index < allTokens % count ? 1 : 0);
let sent = 0;

/** Filler that makes a payload about the size of a real notification (account + status). */
const FILLER = 'x'.repeat(1_200);

function notification(seq: number): { event: string; payload: string } {
  const payload = {
    id: String(seq + 1),
    type: 'mention',
    created_at: new Date().toISOString(),
    account: { id: '1', username: 'bench', acct: 'bench', note: FILLER },
    bench: { seq, sentAt: preciseNow() },
  };
  return { event: 'notification', payload: JSON.stringify(payload) };
}

function emit(fake: FakeMastodon, rate: number, seconds: number): Promise<void> {
  const total = rate * seconds;
  const started = preciseNow();
  return new Promise((resolve) => {
    // a fine-grained tick spreads the events evenly instead of in bursts
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((preciseNow() - started) / 1000) * rate));
      while (sent < due) {
        fake.emit(`bench-${(sent % tokens) * count + index}`, notification(sent * count + index));
        sent++;
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
}

async function main(): Promise<void> {
  const keyFile = process.env.BENCH_TLS_KEY;
  const certFile = process.env.BENCH_TLS_CERT;
  const tls =
    keyFile && certFile
      ? { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8') }
      : undefined;
  const fake = await FakeMastodon.start({
    acceptToken: (token) => /^bench-\d+$/.test(token),
    record: false,
    tls,
  });
  process.on('message', (message: { type: string; rate?: number; seconds?: number }) => {
    if (message.type === 'stats') {
      process.send?.({ type: 'stats', open: fake.openCount, sent });
    } else if (message.type === 'emit') {
      void emit(fake, message.rate ?? 0, message.seconds ?? 0).then(() =>
        process.send?.({ type: 'emitted', sent }),
      );
    } else if (message.type === 'stop') {
      void fake.stop().then(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', port: fake.port });
}

main().catch((error: Error) => {
  process.stderr.write(`bench instance failed: ${error.message}\n`);
  process.exit(1);
});
