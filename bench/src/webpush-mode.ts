import * as path from 'node:path';
import { ChildProcess } from 'node:child_process';
import { BenchArgs } from './bench-args';
import { BenchDatabase } from './bench-database';
import { APP_LOG_LEVEL, ask, ChildProcesses, nextMessage } from './child-processes';
import { preciseNow, summarize } from './latency-stats';
import { cpuSeconds, rssMb } from './process-usage';
import { RegisterClient } from './register-client';

/** What the Web Push mode borrows from the benchmark's runner (bench.ts). */
export interface BenchKit {
  children: ChildProcesses;
  appId: string;
  appSecret: string;
  log(line: string): void;
  progress(line: string): void;
  startApp(name: 'api' | 'listener', env: Record<string, string>): { child: ChildProcess };
  waitHealthy(port: number, what: string): Promise<void>;
  writeConfig(instanceOrigins: string[], callbackPrefix: string): string;
  freePort(): Promise<number>;
  saveResult(result: object): string;
  printTable(rows: [string, string | number][]): void;
  runContext(db: BenchDatabase): object;
}

type PushInstanceStats = {
  type: string;
  open: number;
  subscriptions: number;
  made: number;
  pushed: number;
  pushFailures: number;
  rest: number;
  reads: number;
};
type ReceiverStats = { type: string; received: number; duplicates: number; requests: number };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (n: number) => Math.round(n * 100) / 100;

/**
 * `--transport webpush`: N registrations with transport webpush. The
 * listener subscribes each at the fake instance (its own process), which then
 * makes `rate` notifications per second, each stored for REST and sent as a
 * real encrypted, VAPID-signed Web Push to the api's /push/<id>. Reports the
 * registrations held, the sockets the listener holds to the instance for them
 * (streams: must be 0), the listener's and the api's RSS, latency from the
 * push being sent to its callback arriving, and what was lost or duplicated.
 */
export async function webPushMode(args: BenchArgs, db: BenchDatabase, kit: BenchKit): Promise<void> {
  const { children, log, progress } = kit;
  const instance = children.fork(path.join(__dirname, 'bench-push-instance.main.js'), { BENCH_TOKENS: String(args.streams) });
  const receiver = children.fork(path.join(__dirname, 'bench-receiver.main.js'));
  const { port: instancePort } = await nextMessage<{ type: string; port: number }>(instance, 'ready');
  const { port: receiverPort } = await nextMessage<{ type: string; port: number }>(receiver, 'ready');
  const instanceOrigin = `http://127.0.0.1:${instancePort}`;
  const callbackUrl = `http://127.0.0.1:${receiverPort}/callback`;
  const configDir = kit.writeConfig([instanceOrigin], `http://127.0.0.1:${receiverPort}/`);
  const apiPort = await kit.freePort();
  const listenerPort = await kit.freePort();
  const common = { ...db.env, CONFIG_DIR: configDir, LOG_LEVEL: APP_LOG_LEVEL, PUBLIC_URL: `http://127.0.0.1:${apiPort}` };
  const api = kit.startApp('api', { ...common, PORT: String(apiPort) });
  const listener = kit.startApp('listener', { ...common, LISTENER_PORT: String(listenerPort), LISTENER_POLL_INTERVAL_MS: '1000' });
  await Promise.all([kit.waitHealthy(apiPort, 'api'), kit.waitHealthy(listenerPort, 'listener')]);
  const listenerPid = listener.child.pid!;
  const apiPid = api.child.pid!;
  const instanceStats = () => ask<PushInstanceStats>(instance, { type: 'stats' });
  const receiverStats = () => ask<ReceiverStats>(receiver, { type: 'stats' });

  // register every user for Web Push, as app servers would
  const client = new RegisterClient(apiPort, 32);
  const t0 = preciseNow();
  let failed = 0;
  let next = 0;
  let registered = 0;
  const ticker = setInterval(() => {
    void instanceStats().then(
      (s) => progress(`registered ${registered}/${args.streams}, subscribed ${s.subscriptions}, floors ${s.rest}`),
      () => undefined,
    );
  }, 1_000);
  const worker = async () => {
    while (next < args.streams) {
      const i = next++;
      const { status } = await client.register({
        instance_url: instanceOrigin,
        tag: `user-${i}`,
        app_id: kit.appId,
        app_secret: kit.appSecret,
        access_token: `bench-${i}`,
        callback_url: callbackUrl,
        transport: 'webpush',
      });
      if (status === 202) registered++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  client.close();
  const registerSeconds = (preciseNow() - t0) / 1000;
  if (failed > 0) throw new Error(`${failed} registrations failed`);
  // subscribed, and each one's first catch-up (its floor) read, so that the relay measures pushes only
  let stats = await instanceStats();
  const deadline = Date.now() + 1_800_000;
  while ((stats.subscriptions < args.streams || stats.rest < args.streams) && Date.now() < deadline) {
    await sleep(500);
    stats = await instanceStats();
  }
  clearInterval(ticker);
  const secondsToSubscribe = (preciseNow() - t0) / 1000;
  const rssAfterSubscribe = { listener: rssMb(listenerPid), api: rssMb(apiPid) };
  log('');
  log(`${stats.subscriptions}/${args.streams} subscribed after ${secondsToSubscribe.toFixed(1)} s, listener RSS ${rssAfterSubscribe.listener} MB`);

  let peak = { ...rssAfterSubscribe };
  const cpuBefore = { listener: cpuSeconds(listenerPid), api: cpuSeconds(apiPid) };
  const relayStarted = preciseNow();
  const totalSeconds = args.warmup + args.seconds;
  const emitted = ask<{ type: string; sent: number }>(instance, { type: 'emit', rate: args.rate, seconds: totalSeconds }, 'emitted', (totalSeconds + 120) * 1000);
  let socketsPeak = 0;
  const relayTicker = setInterval(() => {
    peak = { listener: Math.max(peak.listener, rssMb(listenerPid)), api: Math.max(peak.api, rssMb(apiPid)) };
    void Promise.all([instanceStats(), receiverStats()]).then(([i, r]) => {
      socketsPeak = Math.max(socketsPeak, i.open);
      progress(`pushed ${i.pushed} (${i.pushFailures} refused), relayed ${r.received}, listener RSS ${rssMb(listenerPid)} MB`);
    }, () => undefined);
  }, 1_000);
  const { sent } = await emitted;
  // what is in flight arrives, or nothing moves for 15 s
  let last = -1;
  let still = Date.now();
  for (;;) {
    const { received } = await receiverStats();
    if (received >= sent) break;
    if (received !== last) {
      last = received;
      still = Date.now();
    } else if (Date.now() - still > 15_000) break;
    await sleep(100);
  }
  clearInterval(relayTicker);
  const relaySeconds = (preciseNow() - relayStarted) / 1000;
  const cpu = { listener: cpuSeconds(listenerPid) - cpuBefore.listener, api: cpuSeconds(apiPid) - cpuBefore.api };
  peak = { listener: Math.max(peak.listener, rssMb(listenerPid)), api: Math.max(peak.api, rssMb(apiPid)) };
  const final = await receiverStats();
  const end = await instanceStats();
  socketsPeak = Math.max(socketsPeak, end.open);
  const { latencies, sequences } = await ask<{ type: string; latencies: number[]; sequences: number[] }>(receiver, { type: 'latencies' });
  const warmupEvents = args.rate * args.warmup;
  const latency = summarize(latencies.filter((_, i) => sequences[i] >= warmupEvents));

  const result = {
    mode: 'webpush',
    at: new Date().toISOString(),
    ...kit.runContext(db),
    args,
    registrations: {
      requested: args.streams,
      subscribed: stats.subscriptions,
      registerSeconds: round(registerSeconds),
      secondsToSubscribe: round(secondsToSubscribe),
    },
    streamsHeldByListener: { peak: socketsPeak },
    relaySeconds: round(relaySeconds),
    listener: {
      rssMbAfterSubscribe: rssAfterSubscribe.listener,
      rssMbPeak: peak.listener,
      cpuPercentDuringRelay: round((cpu.listener / relaySeconds) * 100),
      cpuMsPerPush: round((cpu.listener * 1000) / Math.max(1, end.pushed)),
    },
    api: {
      rssMbAfterSubscribe: rssAfterSubscribe.api,
      rssMbPeak: peak.api,
      cpuPercentDuringRelay: round((cpu.api / relaySeconds) * 100),
      cpuMsPerPush: round((cpu.api * 1000) / Math.max(1, end.pushed)),
    },
    events: {
      sent,
      pushesAccepted: end.pushed,
      pushesRefused: end.pushFailures,
      relayed: final.received,
      lost: sent - final.received,
      duplicated: final.duplicates,
    },
    pushToCallbackMs: { p50: latency.p50, p95: latency.p95, p99: latency.p99, max: latency.max },
  };
  log('');
  kit.printTable([
    ['registrations requested / subscribed', `${args.streams} / ${stats.subscriptions}`],
    ['seconds to subscribe all', result.registrations.secondsToSubscribe],
    ['streams held by the listener (peak)', socketsPeak],
    ['listener RSS after subscribing / peak (MB)', `${rssAfterSubscribe.listener} / ${peak.listener}`],
    ['api RSS after subscribing / peak (MB)', `${rssAfterSubscribe.api} / ${peak.api}`],
    ['listener / api CPU during relay', `${result.listener.cpuPercentDuringRelay} % / ${result.api.cpuPercentDuringRelay} % of one core`],
    ['notifications sent / pushes accepted / relayed', `${sent} / ${end.pushed} / ${final.received}`],
    ['lost / duplicated', `${result.events.lost} / ${final.duplicates}`],
    [`push sent → callback p50 / p95 / p99 / max, last ${args.seconds} s (ms)`, `${latency.p50} / ${latency.p95} / ${latency.p99} / ${latency.max}`],
  ]);
  log(`\nresult written to ${kit.saveResult(result)}`);
  await Promise.all([children.stop(listener.child), children.stop(api.child)]);
  instance.send({ type: 'stop' });
  receiver.send({ type: 'stop' });
}
