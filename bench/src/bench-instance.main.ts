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
 * For the recovery mode it also makes notifications the way Mastodon does
 * (stored for its REST API, streamed when a stream is open) and plays an
 * outage: every socket cut, upgrades answered 503, for a while.
 */
const allTokens = Number(process.env.BENCH_TOKENS ?? 0);
const index = Number(process.env.BENCH_INSTANCE_INDEX ?? 0);
const count = Math.max(1, Number(process.env.BENCH_INSTANCE_COUNT ?? 1));
const tokens = Math.floor(allTokens / count) + (index < allTokens % count ? 1 : 0);
/** The token of this instance's n-th stream. */
const tokenOf = (n: number) => `bench-${(n % tokens) * count + index}`;
let sent = 0;

/** Filler that makes a payload about the size of a real notification (account + status). */
const FILLER = 'x'.repeat(1_200);

/** The account of every notification. */
const BENCH_ACCOUNT = { id: '1', username: 'bench', acct: 'bench', note: FILLER };

function notification(seq: number): { event: string; payload: string } {
  const payload = {
    id: String(seq + 1),
    type: 'mention',
    created_at: new Date().toISOString(),
    account: BENCH_ACCOUNT,
    bench: { seq, sentAt: preciseNow() },
  };
  return { event: 'notification', payload: JSON.stringify(payload) };
}

/**
 * Sends `rate` notifications per second for `seconds`. `stored`: made as
 * Mastodon makes them (kept for its REST API, then streamed), so that a
 * listener catching up after a gap finds them (failover mode); otherwise
 * streamed only.
 */
function emit(fake: FakeMastodon, rate: number, seconds: number, stored: boolean): Promise<void> {
  const total = rate * seconds;
  const started = preciseNow();
  return new Promise((resolve) => {
    // a fine-grained tick spreads the events evenly instead of in bursts
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((preciseNow() - started) / 1000) * rate));
      while (sent < due) {
        const seq = sent * count + index;
        if (stored) fake.notify(tokenOf(sent), { account: BENCH_ACCOUNT, bench: { seq, sentAt: preciseNow() } });
        else fake.emit(tokenOf(sent), notification(seq));
        sent++;
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
}

/** Makes `rate` notifications per second through the fake's store (REST) until stopped; returns the stop function. */
function notifyAtRate(fake: FakeMastodon, rate: number): () => number {
  const started = preciseNow();
  let made = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((preciseNow() - started) / 1000) * rate);
    while (made < due) {
      // the fake gives it its id (increasing, as Mastodon's)
      fake.notify(tokenOf(made), { account: BENCH_ACCOUNT, bench: { seq: made, sentAt: preciseNow() } });
      made++;
    }
  }, 5);
  return () => {
    clearInterval(timer);
    return made;
  };
}

async function main(): Promise<void> {
  const keyFile = process.env.BENCH_TLS_KEY;
  const certFile = process.env.BENCH_TLS_CERT;
  const tls =
    keyFile && certFile ? { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8') } : undefined;
  const fake = await FakeMastodon.start({ acceptToken: (token) => /^bench-\d+$/.test(token), record: false, tls });
  let stopNotifying: (() => number) | undefined;
  process.on('message', (message: { type: string; rate?: number; seconds?: number; stored?: boolean }) => {
    if (message.type === 'stats') {
      process.send?.({ type: 'stats', open: fake.openCount, sent, upgrades: fake.upgradeAttempts, rest: fake.restArrivals });
    } else if (message.type === 'notifyStart') {
      stopNotifying = notifyAtRate(fake, message.rate ?? 0);
    } else if (message.type === 'notifyStop') {
      process.send?.({ type: 'notifyStop', made: stopNotifying?.() ?? 0 });
      stopNotifying = undefined;
    } else if (message.type === 'outage') {
      const upgradesBefore = fake.upgradeAttempts;
      fake.beginOutage(503);
      setTimeout(() => {
        fake.endOutage();
        process.send?.({ type: 'outage', upgrades: fake.upgradeAttempts - upgradesBefore });
      }, (message.seconds ?? 0) * 1000);
    } else if (message.type === 'emit') {
      void emit(fake, message.rate ?? 0, message.seconds ?? 0, message.stored === true).then(() => process.send?.({ type: 'emitted', sent }));
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
