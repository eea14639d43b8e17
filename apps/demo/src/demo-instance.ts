import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';

/** A Mastodon notification as the REST API and the streaming API carry it (the fields a client reads). */
export interface DemoNotification {
  id: string;
  type: 'follow';
  created_at: string;
  account: { id: string; username: string; acct: string; display_name: string; url: string };
}

const STREAMING_PATH = '/api/v1/streaming';
const MAX_PAGE = 80;
const DEFAULT_PAGE = 20;

function bearerToken(req: http.IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  const match = header ? /^Bearer (.+)$/.exec(header) : null;
  return match?.[1];
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Ids are decimal strings of growing length, as Mastodon's snowflake ids; compared as numbers. */
function newer(a: string, b: string): boolean {
  return BigInt(a) > BigInt(b);
}

/**
 * A small Mastodon instance on 127.0.0.1 for `npm run demo`: `/api/v1/instance`,
 * `/api/v1/notifications` (newest first, with Mastodon's `limit`, `max_id`,
 * `since_id` and `min_id` paging), `/api/v1/conversations` (empty) and the
 * streaming upgrade `/api/v1/streaming?stream=…`, each authenticated by the one
 * bearer token it knows. `notify()` stores a notification and sends it on every
 * open stream, as Mastodon does.
 */
export class DemoInstance {
  private readonly notifications: DemoNotification[] = [];
  private readonly streams = new Set<{ socket: WebSocket; stream: string }>();
  private readonly rawSockets = new Set<Socket>();
  private readonly streamWaiters: (() => void)[] = [];
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  private nextId = 109_000_000_000_000_000n;

  private constructor(
    private readonly server: http.Server,
    private readonly token: string,
  ) {}

  static async start(token: string): Promise<DemoInstance> {
    const server = http.createServer();
    const instance = new DemoInstance(server, token);
    server.on('request', (req, res) => instance.handleRequest(req, res));
    server.on('upgrade', (req, socket, head) => instance.handleUpgrade(req, socket, head));
    server.on('connection', (socket) => {
      instance.rawSockets.add(socket);
      socket.on('close', () => instance.rawSockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return instance;
  }

  /** `http://127.0.0.1:<port>`, the instance URL users register with. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves once a stream is open with the token (at once if one is). */
  async waitForStream(): Promise<string> {
    if (this.streams.size === 0) await new Promise<void>((resolve) => this.streamWaiters.push(resolve));
    return [...this.streams][0].stream;
  }

  /** Stores a new notification and sends it on every open stream; returns it. */
  notify(from: string): DemoNotification {
    this.nextId += 1n;
    const notification: DemoNotification = {
      id: this.nextId.toString(),
      type: 'follow',
      created_at: new Date().toISOString(),
      account: { id: '1', username: from, acct: from, display_name: from, url: `${this.url}/@${from}` },
    };
    this.notifications.unshift(notification);
    const payload = JSON.stringify(notification);
    for (const { socket, stream } of this.streams) {
      socket.send(JSON.stringify({ stream: [stream], event: 'notification', payload }));
    }
    return notification;
  }

  async stop(): Promise<void> {
    for (const { socket } of this.streams) socket.terminate();
    for (const socket of this.rawSockets) socket.destroy();
    this.wss.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handleRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://instance');
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'Method not allowed' });
    if (url.pathname === '/api/v1/instance') {
      return sendJson(res, 200, {
        uri: new URL(this.url).host,
        title: 'Demo instance',
        version: '4.3.0',
        urls: { streaming_api: this.url.replace(/^http/, 'ws') },
      });
    }
    if (url.pathname === '/api/v1/notifications' || url.pathname === '/api/v1/conversations') {
      if (bearerToken(req) !== this.token) return sendJson(res, 401, { error: 'The access token is invalid' });
      if (url.pathname === '/api/v1/conversations') return sendJson(res, 200, []);
      return this.answerNotifications(url.searchParams, res);
    }
    sendJson(res, 404, { error: 'Record not found' });
  }

  /** Mastodon's paging: max_id (older than), since_id (newer than, newest page), min_id (newer than, just after it). */
  private answerNotifications(query: URLSearchParams, res: http.ServerResponse): void {
    const limit = Math.min(Math.max(Number(query.get('limit') ?? DEFAULT_PAGE) || DEFAULT_PAGE, 1), MAX_PAGE);
    const id = (name: string): string | undefined => {
      const value = query.get(name);
      return value && /^\d+$/.test(value) ? value : undefined;
    };
    const maxId = id('max_id');
    const sinceId = id('since_id');
    const minId = id('min_id');
    let page = this.notifications.filter(
      (n) =>
        (maxId === undefined || newer(maxId, n.id)) &&
        (sinceId === undefined || newer(n.id, sinceId)) &&
        (minId === undefined || newer(n.id, minId)),
    );
    // min_id pages upwards from the cursor: the oldest `limit` newer ones, still listed newest first
    page = minId !== undefined ? page.slice(-limit) : page.slice(0, limit);
    sendJson(res, 200, page);
  }

  private handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://instance');
    const refuse = (status: number, reason: string) => {
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (url.pathname !== STREAMING_PATH) return refuse(404, 'Not Found');
    if ((bearerToken(req) ?? url.searchParams.get('access_token')) !== this.token) return refuse(401, 'Unauthorized');
    const stream = url.searchParams.get('stream') ?? 'user';
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const entry = { socket: ws, stream };
      this.streams.add(entry);
      ws.on('close', () => this.streams.delete(entry));
      ws.on('error', () => undefined);
      for (const waiter of this.streamWaiters.splice(0)) waiter();
    });
  }
}
