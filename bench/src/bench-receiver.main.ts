import * as http from 'node:http';
import { preciseNow } from './latency-stats';

/**
 * Callback receiver of the benchmark, in its own process: answers every POST
 * with 204 and records, per relayed notification, its sequence number and the
 * latency from the moment the fake instance emitted it. Controlled over IPC.
 */
let seen = new Uint8Array(1 << 16);
let received = 0;
let duplicates = 0;
let requests = 0;
let malformed = 0;
const latencies: number[] = [];
/** Sequence number of each entry of `latencies`. */
const sequences: number[] = [];

function record(seq: number, sentAt: number): void {
  if (seq >= seen.length) {
    const bigger = new Uint8Array(Math.max(seq + 1, seen.length * 2));
    bigger.set(seen);
    seen = bigger;
  }
  if (seen[seq]) {
    duplicates++;
    return;
  }
  seen[seq] = 1;
  received++;
  latencies.push(preciseNow() - sentAt);
  sequences.push(seq);
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    requests++;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payload?: unknown };
      const payload = JSON.parse(String(body.payload)) as { bench?: { seq?: number; sentAt?: number } };
      const { seq, sentAt } = payload.bench ?? {};
      if (typeof seq === 'number' && typeof sentAt === 'number') record(seq, sentAt);
      else malformed++;
    } catch {
      malformed++;
    }
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;

process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') {
    process.send?.({ type: 'stats', received, duplicates, requests, malformed });
  } else if (message.type === 'latencies') {
    process.send?.({ type: 'latencies', latencies, sequences });
  } else if (message.type === 'stop') {
    server.close();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.send?.({ type: 'ready', port });
});
