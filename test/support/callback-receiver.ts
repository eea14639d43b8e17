import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { waitFor } from './wait-for';

/**
 * A callback receiver for tests and the benchmark: a real HTTP server on
 * 127.0.0.1 that records every request and answers as scripted.
 *
 *   const receiver = await CallbackReceiver.start();
 *   receiver.script('/cb', [{ status: 503 }, { status: 503 }], { status: 200 });
 *   // ... register receiver.url('/cb') as the callback ...
 *   const [delivered] = await receiver.waitForDelivered(1, '/cb');
 *   await receiver.stop();     // refuses connections from now on
 *   await receiver.restart();  // same port again
 *
 * Without a script a path answers 200 (see `setDefault`).
 */

/** How to answer one request. */
export interface ScriptedReply {
  /** HTTP status; 200 when absent. */
  status?: number;
  /** Extra response headers, e.g. `{ 'Retry-After': '2' }`. */
  headers?: Record<string, string>;
  body?: string;
  /** Wait this long after the request body arrived before answering (or closing). */
  delayMs?: number;
  /** Close the connection without any answer. */
  closeSocket?: boolean;
}

/** One request as it arrived. */
export interface ReceivedRequest {
  method: string;
  path: string;
  /** Lower-case header names, as Node gives them. */
  headers: http.IncomingHttpHeaders;
  /** The body exactly as received (UTF-8). */
  rawBody: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: unknown;
  /** Date.now() when the whole body had arrived. */
  receivedAt: number;
  /**
   * The status it was answered with; undefined when the socket was closed instead,
   * the client hung up before a delayed answer, or the delayed answer is pending.
   */
  status?: number;
}

interface PathScript {
  replies: ScriptedReply[];
  then: ScriptedReply;
}

export class CallbackReceiver {
  /** Every request, in arrival order. */
  readonly requests: ReceivedRequest[] = [];
  private readonly scripts = new Map<string, PathScript>();
  private defaultReply: ScriptedReply = { status: 200 };
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private server?: http.Server;

  private constructor(private currentPort: number) {}

  /** Starts listening on 127.0.0.1 (`port` 0 = any free port). */
  static async start(port = 0): Promise<CallbackReceiver> {
    const receiver = new CallbackReceiver(port);
    await receiver.listen();
    return receiver;
  }

  get port(): number {
    return this.currentPort;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** `http://127.0.0.1:<port><path>` */
  url(path = '/callback'): string {
    return `http://127.0.0.1:${this.currentPort}${path}`;
  }

  /** Answers the next requests to `path` with `replies` in order, then every later one with `then`. */
  script(path: string, replies: ScriptedReply[], then: ScriptedReply = { status: 200 }): void {
    this.scripts.set(path, { replies: [...replies], then });
  }

  /** The answer for paths without a script. */
  setDefault(reply: ScriptedReply): void {
    this.defaultReply = reply;
  }

  /** Requests to `path` (all paths when omitted). */
  requestsTo(path?: string): ReceivedRequest[] {
    return path === undefined ? [...this.requests] : this.requests.filter((r) => r.path === path);
  }

  /** Requests to `path` answered with a 2xx status. */
  delivered(path?: string): ReceivedRequest[] {
    return this.requestsTo(path).filter(
      (r) => r.status !== undefined && r.status >= 200 && r.status < 300,
    );
  }

  /** Waits until at least `count` requests reached `path` (any path when omitted); returns them. */
  async waitForRequests(
    count: number,
    path?: string,
    timeoutMs = 20_000,
  ): Promise<ReceivedRequest[]> {
    return waitFor(
      () => (this.requestsTo(path).length >= count ? this.requestsTo(path) : undefined),
      {
        timeoutMs,
        intervalMs: 10,
        what: `${count} request(s) to ${path ?? 'the receiver'} (have ${this.requestsTo(path).length})`,
      },
    );
  }

  /** Waits until at least `count` requests to `path` were answered 2xx; returns them. */
  async waitForDelivered(
    count: number,
    path?: string,
    timeoutMs = 20_000,
  ): Promise<ReceivedRequest[]> {
    return waitFor(
      () => (this.delivered(path).length >= count ? this.delivered(path) : undefined),
      {
        timeoutMs,
        intervalMs: 10,
        what: () =>
          `${count} delivered callback(s) to ${path ?? 'the receiver'} (have ${this.delivered(path).length})`,
      },
    );
  }

  /** Forgets recorded requests (scripts stay). */
  clear(): void {
    this.requests.length = 0;
  }

  /** Stops listening and cuts every open connection: callers get connection errors until `restart`. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    if (!this.server) await this.listen();
  }

  private async listen(): Promise<void> {
    const server = http.createServer((req, res) => this.handle(req, res));
    // longer than the relay's idle-socket timeout, so the relay is the side that closes idle connections
    server.keepAliveTimeout = 30_000;
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('clientError', (_error, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.currentPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.currentPort = (server.address() as AddressInfo).port;
    this.server = server;
  }

  private nextReply(path: string): ScriptedReply {
    const script = this.scripts.get(path);
    if (!script) return this.defaultReply;
    return script.replies.shift() ?? script.then;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => undefined);
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(rawBody);
      } catch {
        json = undefined;
      }
      const path = (req.url ?? '/').split('?')[0];
      const record: ReceivedRequest = {
        method: req.method ?? '',
        path,
        headers: req.headers,
        rawBody,
        json,
        receivedAt: Date.now(),
      };
      this.requests.push(record);
      const reply = this.nextReply(path);
      const answer = () => {
        if (reply.closeSocket) {
          req.socket.destroy();
          return;
        }
        // the client gave up while the answer was delayed: nothing was delivered
        if (req.socket.destroyed) return;
        const status = reply.status ?? 200;
        record.status = status;
        res.writeHead(status, reply.headers ?? {});
        res.end(reply.body ?? '');
      };
      if (!reply.delayMs) {
        answer();
        return;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        answer();
      }, reply.delayMs);
      this.timers.add(timer);
    });
  }
}
