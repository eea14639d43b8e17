/**
 * Side-by-side cost of HTTP clients for callbacks (DESIGN.md: measure before
 * switching): the same keep-alive POST of a ~1.5 KB JSON body to one receiver
 * in a child process, at the same concurrency, through axios configured as the
 * axios-based CallbackDeliveryService did, node:http directly, fetch (Node's
 * bundled undici), and undici 7 `request()` on an `Agent` (as the service uses
 * it) and on a `Pool`. Every client gets the same per-request deadline
 * (AbortController + timer) and reads the answer to its end. The clients run
 * interleaved, `rounds` times, so background load hits them alike.
 * Not part of `npm test`.
 *
 *   npx ts-node -T test/callback/measure-http-clients.ts [requests] [concurrency] [rounds]
 */
import { fork } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import { Agent, Dispatcher, Pool } from 'undici';

const TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 65_536;
const HEADERS = {
  'Content-Type': 'application/json',
  'User-Agent': 'mastodon-streaming-listener/2 (+callback relay)',
  Accept: '*/*',
  'webhook-id': 'msg_2mJ5mW8kQh3vXc1bZ7yT0aL9pR',
  'webhook-timestamp': '1714564800',
  'webhook-signature': 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
};

function runReceiver(): void {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as AddressInfo).port));
  process.on('disconnect', () => process.exit(0));
}

/** One client under test: `send` POSTs and resolves with the status once the answer is read. */
interface Client {
  send(url: string, body: string, signal: AbortSignal): Promise<number>;
  close(): Promise<void>;
}

const factories: Record<string, (concurrency: number, origin: string) => Client> = {
  axios: (concurrency) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const instance = axios.create({});
    return {
      async send(url, body, signal) {
        const response = await instance.request<http.IncomingMessage>({
          method: 'POST',
          url,
          data: body,
          headers: HEADERS,
          transformRequest: [(data: unknown) => data],
          timeout: TIMEOUT_MS,
          maxRedirects: 0,
          validateStatus: () => true,
          responseType: 'stream',
          decompress: false,
          proxy: false,
          httpAgent: agent,
          signal,
        });
        await new Promise((resolve) => response.data.on('close', resolve).resume());
        return response.status;
      },
      close: async () => agent.destroy(),
    };
  },
  'node:http': (concurrency) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    return {
      send: (url, body, signal) =>
        new Promise((resolve, reject) => {
          const request = http.request(
            url,
            {
              method: 'POST',
              agent,
              signal,
              headers: { ...HEADERS, 'Content-Length': Buffer.byteLength(body) },
            },
            (response) => {
              response.on('end', () => resolve(response.statusCode ?? 0)).resume();
            },
          );
          request.on('error', reject);
          request.end(body);
        }),
      close: async () => agent.destroy(),
    };
  },
  fetch: () => ({
    async send(url, body, signal) {
      const response = await fetch(url, {
        method: 'POST',
        body,
        headers: HEADERS,
        redirect: 'manual',
        signal,
      });
      await response.arrayBuffer();
      return response.status;
    },
    close: async () => undefined,
  }),
  'undici Agent': (concurrency) => undiciClient(new Agent(undiciOptions(concurrency))),
  'undici Pool': (concurrency, origin) =>
    undiciClient(new Pool(origin, undiciOptions(concurrency))),
};

function undiciOptions(concurrency: number): Agent.Options {
  return {
    connections: concurrency,
    pipelining: 1,
    keepAliveTimeout: 4_000,
    connect: { timeout: TIMEOUT_MS },
  };
}

function undiciClient(dispatcher: Dispatcher): Client {
  return {
    async send(url, body, signal) {
      const target = new URL(url);
      const response = await dispatcher.request({
        origin: target.origin,
        path: target.pathname + target.search,
        method: 'POST',
        headers: HEADERS,
        body,
        signal,
      });
      await response.body.dump({ limit: MAX_RESPONSE_BYTES, signal });
      return response.statusCode;
    },
    close: () => dispatcher.close(),
  };
}

/** As the service does: one deadline per request, cleared when the answer has been read. */
async function sendWithDeadline(client: Client, url: string, body: string): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const status = await client.send(url, body, controller.signal);
    if (status !== 204) throw new Error(`unexpected status ${status}`);
  } finally {
    clearTimeout(timer);
  }
}

async function measure(name: string, url: string, total: number, concurrency: number) {
  const client = factories[name](concurrency, new URL(url).origin);
  const body = JSON.stringify({
    instanceUrl: 'https://mastodon.example',
    tag: 'measure',
    appId: 'measure.app',
    event: 'notification',
    payload: JSON.stringify({ id: '1', type: 'mention', filler: 'x'.repeat(1_350) }),
  });
  // opens the pooled connections and warms the JIT
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = 0; i < 20; i++) await sendWithDeadline(client, url, body);
    }),
  );
  let started = 0;
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < total) {
        started++;
        await sendWithDeadline(client, url, body);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu);
  await client.close();
  return {
    client: name,
    bodyBytes: Buffer.byteLength(body),
    requestsPerSecond: Math.round(total / seconds),
    cpuMicrosPerRequest: Math.round((used.user + used.system) / total),
  };
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 10_000);
  const concurrency = Number(process.argv[3] ?? 64);
  const rounds = Number(process.argv[4] ?? 3);
  const receiver = fork(__filename, ['receiver'], {
    execArgv: __filename.endsWith('.ts') ? ['-r', 'ts-node/register/transpile-only'] : [],
  });
  const port = await new Promise<number>((resolve) =>
    receiver.once('message', (p: number) => resolve(p)),
  );
  const url = `http://127.0.0.1:${port}/cb`;
  const rows: ({ round: number } & Awaited<ReturnType<typeof measure>>)[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const name of Object.keys(factories))
      rows.push({ round, ...(await measure(name, url, total, concurrency)) });
  }
  console.table(rows);
  const summary = Object.keys(factories).map((name) => {
    const mine = rows.filter((row) => row.client === name);
    const range = (values: number[]) => `${Math.min(...values)}–${Math.max(...values)}`;
    return {
      client: name,
      cpuMicrosPerRequest: range(mine.map((row) => row.cpuMicrosPerRequest)),
      requestsPerSecond: range(mine.map((row) => row.requestsPerSecond)),
    };
  });
  console.table(summary);
  receiver.kill();
}

if (process.argv[2] === 'receiver') runReceiver();
else
  main().catch((error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  });
