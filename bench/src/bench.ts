import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChildProcess } from 'node:child_process';
import { parseBenchArgs, BenchArgs } from './bench-args';
import { createBenchDatabase, BenchDatabase } from './bench-database';
import { APP_LOG_LEVEL, ask, ChildProcesses, extraNodeArgs, nextMessage } from './child-processes';
import { createBenchTls, BenchTls } from './bench-tls';
import { preciseNow, summarize } from './latency-stats';
import { relayFigures } from './relay-figures';
import { cpuSeconds, rssMb } from './process-usage';
import { RegisterClient } from './register-client';
import { webPushMode } from './webpush-mode';

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
/** Debian's jemalloc (package libjemalloc2), which the listener image preloads. */
const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';

/** The flags an app of this run gets: production ones, then BENCH_NODE_ARGS. */
function nodeArgsOf(name: 'api' | 'listener'): string[] {
  return [...PRODUCTION_NODE_ARGS[name], ...extraNodeArgs()];
}

/**
 * The listener's allocator as in its image (Dockerfile: jemalloc preloaded);
 * BENCH_ALLOCATOR=glibc runs it on glibc's malloc to compare.
 */
function listenerAllocatorEnv(): Record<string, string> {
  if (process.env.BENCH_ALLOCATOR === 'glibc' || !fs.existsSync(JEMALLOC)) return {};
  return { LD_PRELOAD: JEMALLOC };
}

/** What the figures of a result depend on besides its arguments. */
function runContext(db: BenchDatabase) {
  return {
    machine: { cpus: os.cpus().length, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    nodeArgs: { api: nodeArgsOf('api'), listener: nodeArgsOf('listener') },
    listenerAllocator: listenerAllocatorEnv().LD_PRELOAD ? 'jemalloc' : 'glibc',
    database: db.dialect,
  };
}

function startApp(name: 'api' | 'listener', env: Record<string, string>, label: string = name): AppHandle {
  const output: string[] = [];
  const script = path.join(DIST, 'apps', name, 'src', 'main.js');
  // e.g. BENCH_APP_LOG_DIR=/tmp with BENCH_NODE_ARGS=--trace-gc keeps each app's whole output
  const logDir = process.env.BENCH_APP_LOG_DIR;
  const appEnv = name === 'listener' ? { ...listenerAllocatorEnv(), ...env } : env;
  const child = children.spawnApp(script, nodeArgsOf(name), appEnv, (chunk) => {
    if (logDir) fs.appendFileSync(path.join(logDir, `${label}.log`), chunk);
    output.push(chunk);
    if (output.length > 200) output.shift();
  });
  child.once('exit', (code) => {
    if (code !== 0 && code !== null) log(`\n${label} exited with code ${code}:\n${output.join('').slice(-3000)}`);
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

function writeConfig(instanceOrigins: string[], callbackPrefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msl-bench-config-'));
  const apps = { [APP_ID]: { secret: APP_SECRET, callbackUrlPrefix: callbackPrefix } };
  const instances: Record<string, object> = { '*': {} };
  for (const origin of instanceOrigins) instances[origin] = { replaceUrl: origin, replaceUrlWeb: origin };
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

type InstanceStats = { type: string; open: number; sent: number; upgrades: number; rest: number };
type ReceiverStats = { type: string; received: number; duplicates: number; requests: number };

/**
 * Registers every user through the api, as app servers would (user i on
 * `instanceOf(i)`), then waits until the instances see every stream open.
 */
async function registerAndOpen(
  args: BenchArgs,
  apiPort: number,
  instanceOf: (i: number) => string,
  callbackUrl: string,
  instanceStats: () => Promise<{ open: number }>,
): Promise<{ registerSeconds: number; open: number; secondsToOpen: number }> {
  const client = new RegisterClient(apiPort, 32);
  let registered = 0;
  let failed = 0;
  const t0 = preciseNow();
  const ticker = setInterval(() => {
    void instanceStats().then(
      (s) => progress(`registered ${registered}/${args.streams}, streams open ${s.open}`),
      () => undefined,
    );
  }, 1_000);
  try {
    await inParallel(args.streams, 32, async (i) => {
      const { status } = await client.register({
        instance_url: instanceOf(i),
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
    return { registerSeconds, open, secondsToOpen: (preciseNow() - t0) / 1000 };
  } finally {
    clearInterval(ticker);
  }
}

/** Everything a run with streams needs, started, with every user registered and every stream open. */
async function startRelay(args: BenchArgs, db: BenchDatabase, listenerEnv: Record<string, string> = {}) {
  const instance = children.fork(path.join(__dirname, 'bench-instance.main.js'), { BENCH_TOKENS: String(args.streams) });
  const receiver = children.fork(path.join(__dirname, 'bench-receiver.main.js'));
  const { port: instancePort } = await nextMessage<{ type: string; port: number }>(instance, 'ready');
  const { port: receiverPort } = await nextMessage<{ type: string; port: number }>(receiver, 'ready');
  const instanceOrigin = `http://127.0.0.1:${instancePort}`;
  const callbackUrl = `http://127.0.0.1:${receiverPort}/callback`;
  const configDir = writeConfig([instanceOrigin], `http://127.0.0.1:${receiverPort}/`);
  const apiPort = await freePort();
  const listenerPort = await freePort();
  const common = { ...db.env, CONFIG_DIR: configDir, LOG_LEVEL: APP_LOG_LEVEL };
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

  const { registerSeconds, open, secondsToOpen } = await registerAndOpen(args, apiPort, () => instanceOrigin, callbackUrl, instanceStats);
  const rssAfterOpen = rssMb(listenerPid);
  progress(`streams open ${open}/${args.streams} after ${secondsToOpen.toFixed(1)} s, listener RSS ${rssAfterOpen} MB`);
  log('');
  const stop = async () => {
    await Promise.all([children.stop(listener.child), children.stop(api.child)]);
    instance.send({ type: 'stop' });
    receiver.send({ type: 'stop' });
  };
  return { instance, receiver, listenerPid, listenerPort, instanceStats, receiverStats, open, secondsToOpen, registerSeconds, rssAfterOpen, stop };
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
  const { instance, receiver, listenerPid, listenerPort, instanceStats, receiverStats, open, secondsToOpen, registerSeconds, rssAfterOpen, stop } =
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
  const relay = relayFigures(
    { sent, ...final, latencies, sequences },
    { ...args, relaySeconds },
    round,
  );
  const outcomes = await callbackOutcomes([listenerPort]);

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
    ...relay.figures,
    callbackOutcomes: outcomes,
  };
  log('');
  printTable([
    ['streams requested / open', `${args.streams} / ${open}`],
    ['seconds to open all', result.streams.secondsToOpen],
    ['listener RSS after open / peak (MB)', `${rssAfterOpen} / ${rssPeak}`],
    ['listener CPU during relay', `${result.listener.cpuPercentDuringRelay} % of one core`],
    ...relay.rows,
    ['callback outcomes', JSON.stringify(outcomes)],
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
  // every new stream first reads its floor (the newest notification): only what is made after counts
  const floorDeadline = Date.now() + 300_000;
  while ((await instanceStats()).rest < args.streams && Date.now() < floorDeadline) await sleep(100);
  // notifications before, during and after the outage
  instance.send({ type: 'notifyStart', rate: args.rate });
  await sleep(args.warmup * 1000);
  const { upgrades: upgradesBefore, rest: restBefore } = await instanceStats();
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
  // the catch-up's pages (and any floor or probe), for every stream that reopened
  const restCalls = (await instanceStats()).rest - restBefore;
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
      restCallsPerStream: round(restCalls / args.streams),
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
    ['REST calls per stream (catch-up pages, outage start to drained)', result.outage.restCallsPerStream],
    ['notifications made / relayed', `${made} / ${final.received}`],
    ['notifications lost / duplicated', `${result.notifications.lost} / ${final.duplicates}`],
    ['listener RSS peak (MB)', rssPeak],
  ]);
  log(`\nresult written to ${saveResult(result)}`);
  await stop();
}

/** A listener's /metrics, summed per value of `label` over the series of `metric` (all labels else). */
async function listenerMetric(port: number, metric: string, label: string): Promise<Record<string, number>> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
    (r) => r.text(),
    () => '',
  );
  const sums: Record<string, number> = {};
  const valueOf = new RegExp(`[{,]${label}="([^"]*)"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const key = valueOf.exec(line)?.[1] ?? '';
    sums[key] = (sums[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sums;
}

/** Streams a listener holds open, from its /metrics (msl_streams_open summed over instances). */
async function listenerStreams(port: number): Promise<number> {
  const byInstance = await listenerMetric(port, 'msl_streams_open', 'instance');
  return Object.values(byInstance).reduce((a, b) => a + b, 0);
}

/** Callback outcomes of every listener (delivered, retry_scheduled, …): why a relay run's tail is long. */
async function callbackOutcomes(ports: number[]): Promise<Record<string, number>> {
  const total: Record<string, number> = {};
  for (const port of ports) {
    for (const [outcome, count] of Object.entries(await listenerMetric(port, 'msl_callbacks_total', 'outcome')))
      total[outcome] = (total[outcome] ?? 0) + count;
  }
  return total;
}

/**
 * Stream and failover runs across several listeners and fake instance
 * processes, over TLS with --tls: what holds many streams on one database.
 */
async function clusterMode(args: BenchArgs, db: BenchDatabase): Promise<void> {
  const tls = args.tls ? createBenchTls() : undefined;
  try {
    await relayRun(args, db, tls);
  } finally {
    tls?.remove();
  }
}

async function relayRun(
  args: BenchArgs,
  db: BenchDatabase,
  tls: BenchTls | undefined,
): Promise<void> {
  const tlsEnv: Record<string, string> = tls
    ? { BENCH_TLS_KEY: tls.keyFile, BENCH_TLS_CERT: tls.certFile }
    : {};
  const instances = Array.from({ length: args.instances }, (_, index) =>
    children.fork(path.join(__dirname, 'bench-instance.main.js'), {
      BENCH_TOKENS: String(args.streams),
      BENCH_INSTANCE_INDEX: String(index),
      BENCH_INSTANCE_COUNT: String(args.instances),
      ...tlsEnv,
    }),
  );
  const receiver = children.fork(path.join(__dirname, 'bench-receiver.main.js'));
  const origins: string[] = [];
  for (const instance of instances) {
    const { port } = await nextMessage<{ type: string; port: number }>(instance, 'ready');
    origins.push(`${tls ? 'https' : 'http'}://127.0.0.1:${port}`);
  }
  const { port: receiverPort } = await nextMessage<{ type: string; port: number }>(
    receiver,
    'ready',
  );
  const callbackUrl = `http://127.0.0.1:${receiverPort}/callback`;
  const configDir = writeConfig(origins, `http://127.0.0.1:${receiverPort}/`);
  const apiPort = await freePort();
  const common = { ...db.env, CONFIG_DIR: configDir, LOG_LEVEL: APP_LOG_LEVEL };
  const api = startApp('api', { ...common, PORT: String(apiPort) });
  const listeners: { handle: AppHandle; port: number }[] = [];
  for (let i = 0; i < args.listeners; i++) {
    const port = await freePort();
    const handle = startApp(
      'listener',
      {
        ...common,
        LISTENER_PORT: String(port),
        LISTENER_POLL_INTERVAL_MS: '1000',
        LISTENER_NODE_TIMEOUT_MS: '5000',
        // only the listeners trust the throwaway CA
        ...(tls ? { NODE_EXTRA_CA_CERTS: tls.caFile } : {}),
      },
      args.listeners > 1 ? `listener-${i}` : 'listener',
    );
    listeners.push({ handle, port });
  }
  await Promise.all([
    waitHealthy(apiPort, 'api'),
    ...listeners.map((l, i) => waitHealthy(l.port, `listener ${i}`)),
  ]);
  const pids = listeners.map((l) => l.handle.child.pid!);
  const rssOf = () => pids.map((pid) => rssMb(pid));
  const sum = (values: number[]) =>
    Math.round(values.filter((v) => !Number.isNaN(v)).reduce((a, b) => a + b, 0) * 10) / 10;
  const rssIdle = rssOf();
  const instanceStats = async () => {
    const all = await Promise.all(
      instances.map((instance) =>
        ask<{ type: string; open: number; sent: number }>(instance, { type: 'stats' }),
      ),
    );
    return { open: all.reduce((a, s) => a + s.open, 0), sent: all.reduce((a, s) => a + s.sent, 0) };
  };
  const receiverStats = () =>
    ask<{ type: string; received: number; duplicates: number; requests: number }>(receiver, {
      type: 'stats',
    });

  const { registerSeconds, open, secondsToOpen } = await registerAndOpen(
    args,
    apiPort,
    (i) => origins[i % origins.length],
    callbackUrl,
    instanceStats,
  );
  // let the sockets settle and the first collections run before measuring memory
  await sleep(3_000);
  const rssAfterOpen = rssOf();
  const heldPerListener = await Promise.all(listeners.map((l) => listenerStreams(l.port)));
  const kbPerStream = Math.round(((sum(rssAfterOpen) - sum(rssIdle)) * 1024) / Math.max(open, 1));
  progress(
    `streams open ${open}/${args.streams} after ${secondsToOpen.toFixed(1)} s, listener RSS ${sum(rssAfterOpen)} MB (${rssAfterOpen.join(' + ')}), ${kbPerStream} KB per stream`,
  );
  log('');

  // relay: the instances emit `rate` notifications per second for `seconds`, between them
  let rssPeak = rssAfterOpen.slice();
  const cpuBefore = pids.map((pid) => cpuSeconds(pid));
  const relayStarted = preciseNow();
  const totalSeconds = args.warmup + args.seconds;
  const perInstance = Math.round(args.rate / instances.length);
  const emitted = Promise.all(
    instances.map((instance) =>
      ask<{ type: string; sent: number }>(
        instance,
        // a failover's gap is caught up from the instances' REST API: the notifications are kept there
        { type: 'emit', rate: perInstance, seconds: totalSeconds, stored: args.mode === 'failover' },
        'emitted',
        (totalSeconds + 60) * 1000,
      ),
    ),
  );
  const relayTicker = setInterval(() => {
    const now = rssOf();
    rssPeak = rssPeak.map((peak, i) => Math.max(peak, Number.isNaN(now[i]) ? 0 : now[i]));
    void Promise.all([instanceStats(), receiverStats()]).then(
      ([i, r]) =>
        progress(
          `sent ${i.sent}, relayed ${r.received}, streams open ${i.open}, listener RSS ${sum(now)} MB`,
        ),
      () => undefined,
    );
  }, 1_000);
  const failover =
    args.mode === 'failover' ? killOneListener(args, listeners, instanceStats) : undefined;
  const sent = (await emitted).reduce((a, e) => a + e.sent, 0);
  const failoverResult = await failover;
  // let what is in flight arrive: stop when everything came or nothing moved for 10 s
  await waitForRelayed(receiverStats, sent);
  const relaySeconds = (preciseNow() - relayStarted) / 1000;
  // a killed listener's CPU can no longer be read: the figure covers the listeners alive at the end
  const cpuUsed = pids.map((pid, i) => cpuSeconds(pid) - cpuBefore[i]).filter((used) => !Number.isNaN(used));
  clearInterval(relayTicker);
  const final = await receiverStats();
  const { latencies, sequences } = await ask<{
    type: string;
    latencies: number[];
    sequences: number[];
  }>(receiver, {
    type: 'latencies',
  });
  const relay = relayFigures(
    { sent, ...final, latencies, sequences },
    { ...args, relaySeconds },
    round,
  );
  // the killed listener's count is gone with it
  const outcomes = await callbackOutcomes(listeners.map((l) => l.port));

  const result = {
    mode: args.mode,
    at: new Date().toISOString(),
    ...runContext(db),
    args,
    tls: args.tls,
    streams: {
      requested: args.streams,
      open,
      secondsToOpen: round(secondsToOpen),
      registerSeconds: round(registerSeconds),
    },
    listener: {
      count: args.listeners,
      streamsPerListener: heldPerListener,
      rssMbIdlePerListener: rssIdle,
      rssMbAfterOpenPerListener: rssAfterOpen,
      rssMbAfterOpen: sum(rssAfterOpen),
      rssMbPeakPerListener: rssPeak,
      rssMbPeak: sum(rssPeak),
      kbPerStream,
      cpuSecondsDuringRelay: round(cpuUsed.reduce((a, b) => a + b, 0)),
      cpuPercentDuringRelay: round((cpuUsed.reduce((a, b) => a + b, 0) / relaySeconds) * 100),
    },
    ...relay.figures,
    callbackOutcomes: outcomes,
    failover: failoverResult,
  };
  log('');
  printTable([
    ['streams requested / open', `${args.streams} / ${open}${args.tls ? ' (TLS)' : ''}`],
    ['listeners / fake instance processes', `${args.listeners} / ${args.instances}`],
    ['seconds to open all', result.streams.secondsToOpen],
    [
      'listener RSS idle / after open / peak (MB, all listeners)',
      `${sum(rssIdle)} / ${sum(rssAfterOpen)} / ${sum(rssPeak)}`,
    ],
    ['listener RSS after open, each (MB)', rssAfterOpen.join(' / ')],
    ['KB per stream (RSS after open minus idle)', kbPerStream],
    ['listener CPU during relay (all alive at the end)', `${result.listener.cpuPercentDuringRelay} % of one core`],
    ...relay.rows,
    ['callback outcomes (listeners alive at the end)', JSON.stringify(outcomes)],
    ...(failoverResult
      ? ([
          ['failover: streams of the killed listener', failoverResult.streamsOfKilled],
          [
            'failover: seconds until every stream was held again',
            failoverResult.secondsUntilHeld ?? 'not within 120 s',
          ],
        ] as [string, string | number][])
      : []),
  ]);
  log(`\nresult written to ${saveResult(result)}`);
  await Promise.all([
    ...listeners.map((l) => children.stop(l.handle.child)),
    children.stop(api.child),
  ]);
  for (const instance of instances) instance.send({ type: 'stop' });
  receiver.send({ type: 'stop' });
}

/**
 * Failover: W + 5 s into the relay, SIGKILLs the first listener and measures
 * how long until the fake instances see every stream open again (the others
 * took the killed listener's streams over).
 */
async function killOneListener(
  args: BenchArgs,
  listeners: { handle: AppHandle; port: number }[],
  instanceStats: () => Promise<{ open: number }>,
): Promise<{ streamsOfKilled: number; secondsUntilHeld: number | undefined }> {
  await sleep((args.warmup + 5) * 1000);
  const victim = listeners[0];
  const streamsOfKilled = await listenerStreams(victim.port);
  const killedAt = preciseNow();
  victim.handle.child.kill('SIGKILL');
  let dropped = false;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const { open } = await instanceStats();
    if (open < args.streams) dropped = true;
    else if (dropped)
      return { streamsOfKilled, secondsUntilHeld: round((preciseNow() - killedAt) / 1000) };
    await sleep(100);
  }
  return { streamsOfKilled, secondsUntilHeld: undefined };
}

async function registerMode(args: BenchArgs, db: BenchDatabase): Promise<void> {
  const configDir = writeConfig([], 'http://127.0.0.1:9/');
  const apiPort = await freePort();
  const api = startApp('api', { ...db.env, CONFIG_DIR: configDir, PORT: String(apiPort), LOG_LEVEL: APP_LOG_LEVEL });
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

/** Several listeners, several instance processes or TLS: the cluster run. */
function isCluster(args: BenchArgs): boolean {
  return args.listeners > 1 || args.instances > 1 || args.tls;
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2));
  log(`benchmark: ${JSON.stringify(args)}`);
  const db = await createBenchDatabase((line) => log(line));
  children.onInterrupt = () => db.stop();
  try {
    if (args.transport === 'webpush')
      await webPushMode(args, db, {
        children,
        appId: APP_ID,
        appSecret: APP_SECRET,
        log,
        progress,
        startApp,
        waitHealthy,
        writeConfig,
        freePort,
        saveResult,
        printTable,
        runContext,
      });
    else if (args.mode === 'failover' || (args.mode === 'stream' && isCluster(args))) await clusterMode(args, db);
    else if (args.mode === 'stream') await streamMode(args, db);
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
