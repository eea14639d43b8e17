import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChildProcess } from 'node:child_process';
import { parseBenchArgs, BenchArgs } from './bench-args';
import { createBenchDatabase, BenchDatabase } from './bench-database';
import { ask, ChildProcesses, extraNodeArgs, nextMessage } from './child-processes';
import { preciseNow, summarize } from './latency-stats';
import { cpuSeconds, rssMb } from './process-usage';
import { RegisterClient } from './register-client';

const ROOT = path.resolve(__dirname, '../../..'); // dist/bench/src -> project root
const DIST = path.join(ROOT, 'dist');
const RESULTS = path.join(ROOT, 'bench', 'results');
const APP_ID = 'bench.app';
const APP_SECRET = 'bench-secret';

const children = new ChildProcesses();
const log = (line: string) => process.stdout.write(`${line}\n`);
const progress = (line: string) => process.stdout.write(`\r${line.padEnd(100)}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface AppHandle {
  child: ChildProcess;
  output: string[];
}

/** Node flags the apps run with in production (package.json start scripts, Dockerfile). */
const PRODUCTION_NODE_ARGS = { api: [], listener: ['--max-semi-space-size=32'] };

/** The flags an app of this run gets: production ones, then BENCH_NODE_ARGS. */
function nodeArgsOf(name: 'api' | 'listener'): string[] {
  return [...PRODUCTION_NODE_ARGS[name], ...extraNodeArgs()];
}

/** What the figures of a result depend on besides its arguments. */
function runContext(db: BenchDatabase) {
  return {
    machine: { cpus: os.cpus().length, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    nodeArgs: { api: nodeArgsOf('api'), listener: nodeArgsOf('listener') },
    database: db.dialect,
  };
}

function startApp(name: 'api' | 'listener', env: Record<string, string>): AppHandle {
  const output: string[] = [];
  const script = path.join(DIST, 'apps', name, 'src', 'main.js');
  // e.g. BENCH_APP_LOG_DIR=/tmp with BENCH_NODE_ARGS=--trace-gc keeps each app's whole output
  const logDir = process.env.BENCH_APP_LOG_DIR;
  const child = children.spawnApp(script, nodeArgsOf(name), env, (chunk) => {
    if (logDir) fs.appendFileSync(path.join(logDir, `${name}.log`), chunk);
    output.push(chunk);
    if (output.length > 200) output.shift();
  });
  child.once('exit', (code) => {
    if (code !== 0 && code !== null) log(`\n${name} exited with code ${code}:\n${output.join('').slice(-3000)}`);
  });
  return { child, output };
}

async function waitHealthy(port: number, what: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const status = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status, () => 0);
    if (status === 200) return;
    await sleep(200);
  }
  throw new Error(`${what} did not become healthy`);
}

function writeConfig(instanceOrigin: string | undefined, callbackPrefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msl-bench-config-'));
  const apps = { [APP_ID]: { secret: APP_SECRET, callbackUrlPrefix: callbackPrefix } };
  const instances: Record<string, object> = { '*': {} };
  if (instanceOrigin) instances[instanceOrigin] = { replaceUrl: instanceOrigin, replaceUrlWeb: instanceOrigin };
  fs.writeFileSync(path.join(dir, 'app_map.hjson'), JSON.stringify(apps));
  fs.writeFileSync(path.join(dir, 'instance_map.hjson'), JSON.stringify(instances));
  return dir;
}

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Runs `register(i)` for i in [0, total) with `concurrency` requests in flight. */
async function inParallel(total: number, concurrency: number, register: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) await register(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
}

function saveResult(result: object): string {
  fs.mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

function printTable(rows: [string, string | number][]): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  log('');
  for (const [key, value] of rows) log(`${key.padEnd(width)}  ${value}`);
}

type InstanceStats = { type: string; open: number; sent: number; upgrades: number };
type ReceiverStats = { type: string; received: number; duplicates: number; requests: number };

/** Everything a run with streams needs, started, with every user registered and every stream open. */
async function startRelay(args: BenchArgs, db: BenchDatabase, listenerEnv: Record<string, string> = {}) {
  const instance = children.fork(path.join(__dirname, 'bench-instance.main.js'), { BENCH_TOKENS: String(args.streams) });
  const receiver = children.fork(path.join(__dirname, 'bench-receiver.main.js'));
  const { port: instancePort } = await nextMessage<{ type: string; port: number }>(instance, 'ready');
  const { port: receiverPort } = await nextMessage<{ type: string; port: number }>(receiver, 'ready');
  const instanceOrigin = `http://127.0.0.1:${instancePort}`;
  const callbackUrl = `http://127.0.0.1:${receiverPort}/callback`;
  const configDir = writeConfig(instanceOrigin, `http://127.0.0.1:${receiverPort}/`);
  const apiPort = await freePort();
  const listenerPort = await freePort();
  const common = { ...db.env, CONFIG_DIR: configDir, LOG_LEVEL: 'warn' };
  const api = startApp('api', { ...common, PORT: String(apiPort) });
  const listener = startApp('listener', {
    ...common,
    LISTENER_PORT: String(listenerPort),
    LISTENER_POLL_INTERVAL_MS: '1000',
    ...listenerEnv,
  });
  await Promise.all([waitHealthy(apiPort, 'api'), waitHealthy(listenerPort, 'listener')]);
  const listenerPid = listener.child.pid!;
  const instanceStats = () => ask<InstanceStats>(instance, { type: 'stats' });
  const receiverStats = () => ask<ReceiverStats>(receiver, { type: 'stats' });

  // register every user through the api, as app servers would
  const client = new RegisterClient(apiPort, 32);
  let registered = 0;
  let failed = 0;
  const t0 = preciseNow();
  const ticker = setInterval(() => {
    void instanceStats().then((s) => progress(`registered ${registered}/${args.streams}, streams open ${s.open}`), () => undefined);
  }, 1_000);
  await inParallel(args.streams, 32, async (i) => {
    const { status } = await client.register({
      instance_url: instanceOrigin,
      tag: `user-${i}`,
      app_id: APP_ID,
      app_secret: APP_SECRET,
      access_token: `bench-${i}`,
      callback_url: callbackUrl,
      endpoint: 'user:notification',
    });
    if (status === 202) registered++;
    else failed++;
  });
  client.close();
  const registerSeconds = (preciseNow() - t0) / 1000;
  if (failed > 0) throw new Error(`${failed} registrations failed`);

  let open = 0;
  const openDeadline = Date.now() + 600_000;
  while (open < args.streams && Date.now() < openDeadline) {
    open = (await instanceStats()).open;
    if (open < args.streams) await sleep(100);
  }
  const secondsToOpen = (preciseNow() - t0) / 1000;
  clearInterval(ticker);
  const rssAfterOpen = rssMb(listenerPid);
  progress(`streams open ${open}/${args.streams} after ${secondsToOpen.toFixed(1)} s, listener RSS ${rssAfterOpen} MB`);
  log('');
  const stop = async () => {
    await Promise.all([children.stop(listener.child), children.stop(api.child)]);
    instance.send({ type: 'stop' });
    receiver.send({ type: 'stop' });
  };
  return { instance, receiver, listenerPid, instanceStats, receiverStats, open, secondsToOpen, registerSeconds, rssAfterOpen, stop };
}

/** Waits until the receiver has `expected` events, or nothing arrived for `stillMs`. */
async function waitForRelayed(receiverStats: () => Promise<ReceiverStats>, expected: number, stillMs = 10_000): Promise<void> {
  let last = -1;
  let still = Date.now();
  for (;;) {
    const { received } = await receiverStats();
    if (received >= expected) return;
    if (received !== last) {
      last = received;
      still = Date.now();
    } else if (Date.now() - still > stillMs) return;
    await sleep(100);
  }
}

async function streamMode(args: BenchArgs, db: BenchDatabase): Promise<void> {
  const { instance, receiver, listenerPid, instanceStats, receiverStats, open, secondsToOpen, registerSeconds, rssAfterOpen, stop } =
    await startRelay(args, db);

  // relay: the instance emits `rate` notifications per second for `seconds`
  let rssPeak = rssAfterOpen;
  const cpuBefore = cpuSeconds(listenerPid);
  const relayStarted = preciseNow();
  const totalSeconds = args.warmup + args.seconds;
  const emitted = ask<{ type: string; sent: number }>(instance, { type: 'emit', rate: args.rate, seconds: totalSeconds }, 'emitted', (totalSeconds + 60) * 1000);
  const relayTicker = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssMb(listenerPid));
    void Promise.all([instanceStats(), receiverStats()]).then(
      ([i, r]) => progress(`sent ${i.sent}, relayed ${r.received}, listener RSS ${rssMb(listenerPid)} MB`),
      () => undefined,
    );
  }, 1_000);
  const { sent } = await emitted;
  // let what is in flight arrive: stop when everything came or nothing moved for 10 s
  await waitForRelayed(receiverStats, sent);
  const relaySeconds = (preciseNow() - relayStarted) / 1000;
  const cpuUsed = cpuSeconds(listenerPid) - cpuBefore;
  clearInterval(relayTicker);
  rssPeak = Math.max(rssPeak, rssMb(listenerPid));
  const final = await receiverStats();
  const { latencies, sequences } = await ask<{ type: string; latencies: number[]; sequences: number[] }>(receiver, {
    type: 'latencies',
  });
  const warmupEvents = args.rate * args.warmup;
  const latency = summarize(latencies.filter((_, i) => sequences[i] >= warmupEvents));
  const withWarmup = summarize(latencies);

  const result = {
    mode: 'stream',
    at: new Date().toISOString(),
    ...runContext(db),
    args,
    streams: { requested: args.streams, open, secondsToOpen: round(secondsToOpen), registerSeconds: round(registerSeconds) },
    listener: {
      rssMbAfterOpen: rssAfterOpen,
      rssMbPeak: rssPeak,
      cpuSecondsDuringRelay: round(cpuUsed),
      cpuPercentDuringRelay: round((cpuUsed / relaySeconds) * 100),
    },
    events: {
      sent,
      relayed: final.received,
      lost: sent - final.received,
      duplicated: final.duplicates,
      relayedPerSecond: round(final.received / totalSeconds),
    },
    latencyMs: { p50: latency.p50, p95: latency.p95, p99: latency.p99, max: latency.max },
    latencyMsIncludingWarmup: { p50: withWarmup.p50, p95: withWarmup.p95, p99: withWarmup.p99, max: withWarmup.max },
    callbackRequestsPerSecond: round(final.requests / relaySeconds),
  };
  log('');
  printTable([
    ['streams requested / open', `${args.streams} / ${open}`],
    ['seconds to open all', result.streams.secondsToOpen],
    ['listener RSS after open / peak (MB)', `${rssAfterOpen} / ${rssPeak}`],
    ['listener CPU during relay', `${result.listener.cpuPercentDuringRelay} % of one core`],
    ['events sent / relayed', `${sent} / ${final.received}`],
    ['events lost / duplicated', `${result.events.lost} / ${final.duplicates}`],
    [`relay latency p50 / p95 / p99 / max, last ${args.seconds} s (ms)`, `${latency.p50} / ${latency.p95} / ${latency.p99} / ${latency.max}`],
    [`the same including the ${args.warmup} s warm-up (ms)`, `${withWarmup.p50} / ${withWarmup.p95} / ${withWarmup.p99} / ${withWarmup.max}`],
    ['callback requests per second', result.callbackRequestsPerSecond],
  ]);
  log(`\nresult written to ${saveResult(result)}`);
  await stop();
}

/**
 * The instance goes away for `outage` seconds (every socket cut, upgrades
 * answered 503) while notifications keep being made at `rate` per second
 * through its REST store: how long until every stream is back, how many
 * upgrades the instance got meanwhile, and whether every notification of the
 * window was relayed (caught up from the REST API).
 */
async function recoveryMode(args: BenchArgs, db: BenchDatabase): Promise<void> {
  const { instance, listenerPid, instanceStats, receiverStats, open, secondsToOpen, stop } = await startRelay(args, db);
  // notifications before, during and after the outage
  instance.send({ type: 'notifyStart', rate: args.rate });
  await sleep(args.warmup * 1000);
  const upgradesBefore = (await instanceStats()).upgrades;
  log(`instance down for ${args.outage} s: every socket cut, upgrades answered 503`);
  const outageStarted = preciseNow();
  let rssPeak = rssMb(listenerPid);
  const ticker = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssMb(listenerPid));
    void Promise.all([instanceStats(), receiverStats()]).then(
      ([i, r]) => progress(`streams open ${i.open}/${args.streams}, upgrades ${i.upgrades - upgradesBefore}, relayed ${r.received}`),
      () => undefined,
    );
  }, 1_000);
  const { upgrades: upgradesDuringOutage } = await ask<{ type: string; upgrades: number }>(
    instance,
    { type: 'outage', seconds: args.outage },
    'outage',
    (args.outage + 60) * 1000,
  );
  const instanceBack = preciseNow();
  let back = 0;
  const backDeadline = Date.now() + 600_000;
  while (back < args.streams && Date.now() < backDeadline) {
    back = (await instanceStats()).open;
    if (back < args.streams) await sleep(50);
  }
  const secondsToBack = (preciseNow() - instanceBack) / 1000;
  const upgradesUntilBack = (await instanceStats()).upgrades - upgradesBefore;
  // a little more traffic on the reopened streams, then everything made must arrive
  await sleep(args.warmup * 1000);
  const { made } = await ask<{ type: string; made: number }>(instance, { type: 'notifyStop' });
  await waitForRelayed(receiverStats, made, 20_000);
  clearInterval(ticker);
  const final = await receiverStats();
  const result = {
    mode: 'recovery',
    at: new Date().toISOString(),
    ...runContext(db),
    args,
    streams: { requested: args.streams, openBefore: open, secondsToOpen: round(secondsToOpen), back },
    outage: {
      seconds: round((instanceBack - outageStarted) / 1000),
      upgradeAttemptsDuring: upgradesDuringOutage,
      secondsUntilEveryStreamBack: round(secondsToBack),
      upgradeAttemptsUntilBack: upgradesUntilBack,
      upgradeAttemptsPerStream: round(upgradesUntilBack / args.streams),
    },
    notifications: { made, relayed: final.received, lost: made - final.received, duplicated: final.duplicates },
    listenerRssMbPeak: rssPeak,
  };
  printTable([
    ['streams requested / open before / back', `${args.streams} / ${open} / ${back}`],
    ['outage (s)', result.outage.seconds],
    ['upgrade attempts during the outage', upgradesDuringOutage],
    ['seconds until every stream is back, after the instance', result.outage.secondsUntilEveryStreamBack],
    ['upgrade attempts per stream (outage start to all back)', result.outage.upgradeAttemptsPerStream],
    ['notifications made / relayed', `${made} / ${final.received}`],
    ['notifications lost / duplicated', `${result.notifications.lost} / ${final.duplicates}`],
    ['listener RSS peak (MB)', rssPeak],
  ]);
  log(`\nresult written to ${saveResult(result)}`);
  await stop();
}

async function registerMode(args: BenchArgs, db: BenchDatabase): Promise<void> {
  const configDir = writeConfig(undefined, 'http://127.0.0.1:9/');
  const apiPort = await freePort();
  const api = startApp('api', { ...db.env, CONFIG_DIR: configDir, PORT: String(apiPort), LOG_LEVEL: 'warn' });
  await waitHealthy(apiPort, 'api');
  const client = new RegisterClient(apiPort, args.concurrency);
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  const deadline = preciseNow() + args.seconds * 1000;
  const started = preciseNow();
  const ticker = setInterval(() => progress(`${latencies.length} registrations, ${Math.round(latencies.length / ((preciseNow() - started) / 1000))}/s`), 1_000);
  let counter = 0;
  // half new keys, half renewals of a key registered before: what app servers send
  const worker = async (w: number) => {
    while (preciseNow() < deadline) {
      const n = counter++;
      const tag = n % 2 === 0 ? `user-${w}-${n}` : `user-${w}-${n - 1}`;
      const { status, ms } = await client.register({
        instance_url: 'https://mastodon.bench.example',
        tag,
        app_id: APP_ID,
        app_secret: APP_SECRET,
        access_token: `token-${n}`,
        callback_url: 'http://127.0.0.1:9/callback',
      });
      latencies.push(ms);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, (_, w) => worker(w)));
  const seconds = (preciseNow() - started) / 1000;
  clearInterval(ticker);
  client.close();
  const latency = summarize(latencies);
  const result = {
    mode: 'register',
    at: new Date().toISOString(),
    ...runContext(db),
    args,
    requests: latencies.length,
    statuses: Object.fromEntries(statuses),
    requestsPerSecond: round(latencies.length / seconds),
    latencyMs: { p50: latency.p50, p95: latency.p95, p99: latency.p99, max: latency.max },
    apiRssMb: rssMb(api.child.pid!),
  };
  printTable([
    ['requests (by status)', `${latencies.length} ${JSON.stringify(result.statuses)}`],
    ['requests per second', result.requestsPerSecond],
    ['latency p50 / p95 / p99 / max (ms)', `${latency.p50} / ${latency.p95} / ${latency.p99} / ${latency.max}`],
    ['api RSS (MB)', result.apiRssMb],
  ]);
  log(`\nresult written to ${saveResult(result)}`);
  await children.stop(api.child);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2));
  log(`benchmark: ${JSON.stringify(args)}`);
  const db = await createBenchDatabase((line) => log(line));
  children.onInterrupt = () => db.stop();
  try {
    if (args.mode === 'stream') await streamMode(args, db);
    else if (args.mode === 'recovery') await recoveryMode(args, db);
    else await registerMode(args, db);
  } finally {
    children.killAll();
    await db.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`\nbenchmark failed: ${error.message}\n`);
    children.killAll();
    process.exit(1);
  },
);
