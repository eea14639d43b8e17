import { FakeMastodon } from '../../test/support/fake-mastodon';
import { preciseNow } from './latency-stats';

/**
 * The Web Push benchmark's Mastodon instance, in its own process: the test
 * suite's fake accepting every token `bench-<i>` (BENCH_TOKENS of them),
 * serving the push subscription API, and, on `emit`, making `rate`
 * notifications per second spread over the tokens, each stored for the REST
 * API (what the listener fetches) and pushed, encrypted and signed, to the
 * token's subscription. Each notification carries its sequence number and the
 * moment its push was sent. Controlled over IPC.
 */
const tokens = Number(process.env.BENCH_TOKENS ?? 0);
let made = 0;
let pushed = 0;
let pushFailures = 0;

/** Filler that makes a notification about the size of a real one (account + status). */
const FILLER = 'x'.repeat(1_200);

function emit(fake: FakeMastodon, rate: number, seconds: number): Promise<void> {
  const total = rate * seconds;
  const started = preciseNow();
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((preciseNow() - started) / 1000) * rate));
      while (made < due) {
        fake.notify(`bench-${made % tokens}`, {
          account: { id: '1', username: 'bench', acct: 'bench', note: FILLER },
          bench: { seq: made, sentAt: preciseNow() },
        });
        made++;
      }
      if (made >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
}

async function main(): Promise<void> {
  const fake = await FakeMastodon.start({ acceptToken: (token) => /^bench-\d+$/.test(token), record: false });
  fake.push.reuseVapidTokens = true;
  fake.push.onDelivery = (delivery) => {
    if (delivery.status === 201) pushed++;
    else pushFailures++;
  };
  process.on('message', (message: { type: string; rate?: number; seconds?: number }) => {
    if (message.type === 'stats') {
      process.send?.({
        type: 'stats',
        open: fake.openCount,
        subscriptions: fake.push.subscriptions.size,
        made,
        pushed,
        pushFailures,
        rest: fake.restArrivals,
        reads: fake.notificationReads,
      });
    } else if (message.type === 'emit') {
      void emit(fake, message.rate ?? 0, message.seconds ?? 0).then(() => process.send?.({ type: 'emitted', sent: made }));
    } else if (message.type === 'stop') {
      void fake.stop().then(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', port: fake.port });
}

main().catch((error: Error) => {
  process.stderr.write(`bench push instance failed: ${error.message}\n`);
  process.exit(1);
});
