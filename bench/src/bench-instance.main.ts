import { FakeMastodon } from '../../test/support/fake-mastodon';
import { preciseNow } from './latency-stats';

/**
 * The benchmark's Mastodon instance, in its own process: the test suite's fake
 * instance accepting the tokens `bench-0` … `bench-<N-1>`, plus an emitter that
 * sends `rate` notifications per second spread over those streams, each payload
 * carrying a sequence number and its send time. Controlled over IPC.
 * For the recovery mode it also makes notifications the way Mastodon does
 * (stored for its REST API, streamed when a stream is open) and plays an
 * outage: every socket cut, upgrades answered 503, for a while.
 */
const tokens = Number(process.env.BENCH_TOKENS ?? 0);
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
        fake.emit(`bench-${sent % tokens}`, notification(sent));
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
      fake.notify(`bench-${made % tokens}`, {
        account: { id: '1', username: 'bench', acct: 'bench', note: FILLER },
        bench: { seq: made, sentAt: preciseNow() },
      });
      made++;
    }
  }, 5);
  return () => {
    clearInterval(timer);
    return made;
  };
}

async function main(): Promise<void> {
  const fake = await FakeMastodon.start({ acceptToken: (token) => /^bench-\d+$/.test(token), record: false });
  let stopNotifying: (() => number) | undefined;
  process.on('message', (message: { type: string; rate?: number; seconds?: number }) => {
    if (message.type === 'stats') {
      process.send?.({ type: 'stats', open: fake.openCount, sent, upgrades: fake.upgradeAttempts });
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
      void emit(fake, message.rate ?? 0, message.seconds ?? 0).then(() => process.send?.({ type: 'emitted', sent }));
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
