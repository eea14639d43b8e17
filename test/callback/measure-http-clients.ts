/**
 * Side-by-side cost of HTTP clients for callbacks (DESIGN.md: measure before
 * switching): the same keep-alive POST of a ~700-byte JSON body to a receiver
 * in a child process, through axios configured exactly as CallbackDeliveryService
 * does, through node:http directly, and through fetch (Node's bundled undici).
 * Not part of `npm test`.
 *
 *   npx ts-node -T test/callback/measure-http-clients.ts [requests] [concurrency]
 */
import { fork } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';

function runReceiver(): void {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as AddressInfo).port));
  process.on('disconnect', () => process.exit(0));
}

type Client = (url: string, body: string, agent: http.Agent) => Promise<number>;

const instance = axios.create({});
const clients: Record<string, Client> = {
  axios: async (url, body, agent) => {
    const response = await instance.request<http.IncomingMessage>({
      method: 'POST',
      url,
      data: body,
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'measure',
        'webhook-id': 'msg_x',
      },
      transformRequest: [(data: unknown) => data],
      timeout: 10_000,
      maxRedirects: 0,
      validateStatus: () => true,
      responseType: 'stream',
      decompress: false,
      proxy: false,
      httpAgent: agent,
      signal: new AbortController().signal,
    });
    response.data.resume();
    return response.status;
  },
  'node:http': (url, body, agent) =>
    new Promise((resolve, reject) => {
      const request = http.request(
        url,
        {
          method: 'POST',
          agent,
          timeout: 10_000,
          headers: {
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(body),
            'User-Agent': 'measure',
            'webhook-id': 'msg_x',
          },
        },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on('error', reject);
      request.end(body);
    }),
  fetch: async (url, body) => {
    const response = await fetch(url, {
      method: 'POST',
      body,
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'measure',
        'webhook-id': 'msg_x',
      },
      redirect: 'manual',
    });
    await response.arrayBuffer();
    return response.status;
  },
};

async function measure(
  name: string,
  client: Client,
  url: string,
  total: number,
  concurrency: number,
) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const body = JSON.stringify({ instanceUrl: 'https://m.example', payload: 'x'.repeat(600) });
  for (let i = 0; i < 200; i++) await client(url, body, agent);
  let started = 0;
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < total) {
        started++;
        await client(url, body, agent);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu);
  agent.destroy();
  return {
    client: name,
    requestsPerSecond: Math.round(total / seconds),
    cpuMicrosPerRequest: Math.round((used.user + used.system) / total),
  };
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 10_000);
  const concurrency = Number(process.argv[3] ?? 64);
  const receiver = fork(__filename, ['receiver'], {
    execArgv: __filename.endsWith('.ts') ? ['-r', 'ts-node/register/transpile-only'] : [],
  });
  const port = await new Promise<number>((resolve) =>
    receiver.once('message', (p: number) => resolve(p)),
  );
  const url = `http://127.0.0.1:${port}/cb`;
  const rows = [];
  for (const round of [1, 2]) {
    for (const [name, client] of Object.entries(clients))
      rows.push({ round, ...(await measure(name, client, url, total, concurrency)) });
  }
  console.table(rows);
  receiver.kill();
}

if (process.argv[2] === 'receiver') runReceiver();
else void main();
