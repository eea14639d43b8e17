import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One callback as it arrived, and whether its signature verified. */
export interface ReceivedCallback {
  path: string;
  headers: Record<string, string>;
  body: string;
  verified: boolean;
  /** Why verification failed, when it did. */
  failure?: string;
}

const SIGNATURE_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'];
const MAX_BODY_BYTES = 1_048_576;

/**
 * The app server's side of a callback, as the README shows it: verifies the
 * Standard Webhooks signature over the raw body with the `standardwebhooks`
 * package and the app's webhook secret, answers 204 (401 when it does not verify).
 */
export class DemoReceiver {
  private readonly received: ReceivedCallback[] = [];
  private readonly waiters: ((callback: ReceivedCallback) => void)[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly webhook: Webhook;

  private constructor(
    private readonly server: http.Server,
    secret: string,
  ) {
    this.webhook = new Webhook(Buffer.from(secret, 'utf8'), { format: 'raw' });
  }

  static async start(secret: string): Promise<DemoReceiver> {
    const server = http.createServer();
    const receiver = new DemoReceiver(server, secret);
    server.on('request', (req, res) => receiver.handle(req, res));
    server.on('connection', (socket) => {
      receiver.sockets.add(socket);
      socket.on('close', () => receiver.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return receiver;
  }

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The first callback (at once if one has arrived). */
  async nextCallback(): Promise<ReceivedCallback> {
    const first = this.received[0];
    if (first) return first;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers: Record<string, string> = {};
      for (const name of ['content-type', ...SIGNATURE_HEADERS]) {
        const value = req.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const callback: ReceivedCallback = { path: req.url ?? '/', headers, body, verified: false };
      try {
        // the raw body exactly as received: re-serialised JSON would not verify
        this.webhook.verify(body, headers);
        callback.verified = true;
      } catch (error) {
        callback.failure = (error as Error).message;
      }
      res.writeHead(callback.verified ? 204 : 401).end();
      this.received.push(callback);
      for (const waiter of this.waiters.splice(0)) waiter(callback);
    });
  }
}
