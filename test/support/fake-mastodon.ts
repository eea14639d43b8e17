import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { FakeMastodonPush } from './fake-mastodon-push';

/**
 * A fake Mastodon instance for tests and the benchmark: a real HTTP and
 * WebSocket server on 127.0.0.1 that serves `/api/v1/instance` and
 * `/api/v1/streaming`, authenticating the upgrade by bearer token like Mastodon.
 *
 *   const mastodon = await FakeMastodon.start({ version: '4.3.0' });
 *   mastodon.addToken('t1');
 *   // ... the listener connects ...
 *   await mastodon.waitForConnection((c) => c.token === 't1');
 *   mastodon.emit('t1', { event: 'notification', payload: JSON.stringify({ id: '1' }) });
 *
 * Lean enough to hold tens of thousands of connections in its own process
 * (`node dist/test/support/fake-mastodon.js`): no timer per connection, no
 * compression, connection records only when `record` is on.
 */

export interface FakeMastodonOptions {
  port?: number;
  version?: string;
  /** Announced as urls.streaming_api; absent: not announced. */
  streamingApi?: string;
  /** Tokens accepted besides those added; the benchmark accepts any. */
  acceptToken?: (token: string) => boolean;
  /** Keep a record of every connection (tests); off for the benchmark. */
  record?: boolean;
  /** Serve https/wss with this key and certificate (PEM), as real instances do. */
  tls?: { key: string; cert: string };
}

/** One accepted streaming connection as the server saw it. */
export interface FakeConnection {
  id: number;
  token: string;
  /** The `stream` query parameter. */
  stream: string;
  /** Path and query string of the upgrade request. */
  url: string;
  /** The Authorization header as received. */
  authorization: string | undefined;
  openedAt: number;
  closed: boolean;
  /** Close code the server saw (1006 when the socket was cut). */
  closeCode?: number;
}

/** A notification or conversation the fake keeps for its REST API, as it serves it. */
export interface StoredObject {
  /** The id REST pages by: a notification's id, a conversation's last_status id. */
  key: string;
  /** Exact JSON text served (and streamed as the payload). */
  json: string;
}

/** One REST request the fake answered (only with `record`). */
export interface FakeRestRequest {
  path: string;
  query: Record<string, string>;
  token: string | undefined;
  status: number;
  /** Date.now() when the request arrived. */
  at: number;
}

/** A frame to send: a raw string (sent as text as is), a Buffer (sent as binary), or an event object. */
export type FakeFrame = string | Buffer | { event: string; payload?: unknown; stream?: string[] };

interface LiveConnection {
  record: FakeConnection;
  socket: WebSocket;
}

const STREAMING_PATH = '/api/v1/streaming';
const REST_COLLECTIONS = new Set(['/api/v1/notifications', '/api/v1/conversations']);

/** Compares decimal ids as numbers (what Mastodon's bigint ids are). */
function compareIds(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

/** The scope each stream needs, as Mastodon's streaming server checks it (`read` covers every one). */
const STREAM_SCOPES: Record<string, string> = {
  user: 'read:statuses',
  'user:notification': 'read:notifications',
  direct: 'read:statuses',
};
/** The scope each REST collection needs (`read` covers every one). */
const REST_SCOPES: Record<string, string> = {
  '/api/v1/notifications': 'read:notifications',
  '/api/v1/conversations': 'read:statuses',
};

/** Whether `granted` (a token's scopes) covers `needed`, as Mastodon reads scopes. */
function scopeCovers(granted: readonly string[], needed: string): boolean {
  return granted.includes(needed) || granted.includes(needed.split(':')[0]);
}


function encodeFrame(frame: FakeFrame, stream: string): { data: string | Buffer; binary: boolean } {
  if (Buffer.isBuffer(frame)) return { data: frame, binary: true };
  if (typeof frame === 'string') return { data: frame, binary: false };
  return {
    data: JSON.stringify({
      stream: frame.stream ?? [stream],
      event: frame.event,
      payload: frame.payload,
    }),
    binary: false,
  };
}

export class FakeMastodon {
  version: string;
  streamingApi: string | undefined;
  /** When set, /api/v1/instance answers this status. */
  instanceInfoStatus: number | undefined;
  /** When set, /api/v1/instance answers 200 with this body as is. */
  instanceInfoBody: string | undefined;
  instanceInfoRequests = 0;
  upgradeAttempts = 0;
  connectionsOpened = 0;
  /** Every accepted connection, in order (only with `record`). */
  readonly connections: FakeConnection[] = [];
  /** Every upgrade refused for its token, with the token it carried, in order (only with `record`). */
  readonly refusedUpgrades: { token: string | undefined; status: number }[] = [];
  /** Most streaming connections open at once: what a cluster-wide maxConnections must keep under. */
  peakOpen = 0;
  /** Longest time one token had two or more streams open at once, in ms (a handover's overlap). */
  longestOverlapMs = 0;
  /** Tokens that had two or more streams open at once, at any time. */
  readonly tokensEverHeldTwice = new Set<string>();

  private readonly tokens = new Set<string>();
  /** Scopes of tokens added with some; a token without an entry may do everything. */
  private readonly tokenScopes = new Map<string, readonly string[]>();
  /** Tokens whose upgrades answer a status other than 401 (403: Mastodon's answer to a token without the read scope). */
  private readonly refusedTokens = new Map<string, number>();
  private readonly live = new Map<WebSocket, LiveConnection>();
  private readonly byToken = new Map<string, Set<LiveConnection>>();
  private readonly rawSockets = new Set<Socket>();
  private refuseStatus: number | undefined;
  private redirectLocation: string | undefined;
  private nextId = 1;
  private sequence = 0;
  private cursor: Iterator<LiveConnection> | undefined;
  /** Since when each token has had more than one stream open. */
  private readonly overlapSince = new Map<string, number>();
  private readonly wss: WebSocketServer;
  /** Per token, oldest first: what `/api/v1/notifications` lists. */
  private readonly notificationStore = new Map<string, StoredObject[]>();
  /** Per token and conversation id: the conversation as `/api/v1/conversations` lists it. */
  private readonly conversationStore = new Map<string, Map<string, StoredObject>>();
  private nextNotificationId = 1000;
  /** Status ids are snowflakes in Mastodon, far beyond 2^53. */
  private nextStatusId = 113_000_000_000_000_000n;
  private restRefusals: { status: number; remaining: number; headers: Record<string, string> }[] =
    [];
  /** Every REST request to the notification and conversation lists (only with `record`). */
  readonly restRequests: FakeRestRequest[] = [];
  /** The lists answer this long after a request arrived, with what they hold by then. */
  restDelayMs = 0;
  /** REST requests to the lists that arrived (answered or not yet). */
  restArrivals = 0;
  /** The Web Push side: subscriptions and encrypted pushes (see FakeMastodonPush). */
  readonly push: FakeMastodonPush;
  /** Single notifications read by id (`GET /api/v1/notifications/<id>`). */
  notificationReads = 0;

  private constructor(
    private readonly server: http.Server,
    private readonly options: FakeMastodonOptions,
  ) {
    this.version = options.version ?? '4.3.0';
    this.streamingApi = options.streamingApi;
    this.push = new FakeMastodonPush({
      version: () => this.version,
      authorize: (req, scope) => this.authorize(req, scope),
    });
    this.push.record = options.record !== false;
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      clientTracking: false,
      maxPayload: 64 * 1024,
    });
  }

  static async start(options: FakeMastodonOptions = {}): Promise<FakeMastodon> {
    const server = options.tls ? https.createServer(options.tls) : http.createServer();
    const fake = new FakeMastodon(server, { record: true, ...options });
    server.on('request', (req, res) => fake.handleRequest(req, res));
    server.on('upgrade', (req, socket, head) => fake.handleUpgrade(req, socket, head));
    server.on('connection', (socket: Socket) => {
      fake.rawSockets.add(socket);
      socket.on('close', () => fake.rawSockets.delete(socket));
    });
    server.on('clientError', (_error, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return fake;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `http://127.0.0.1:<port>` (`https:` with `tls`) */
  get url(): string {
    return `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  /**
   * Accepts `token`. With `scopes`, it may only do what they cover, as on
   * Mastodon: a stream it may not read gets an error frame right after the
   * upgrade (`{"error": "Access token does not have the required scopes",
   * "status": 401}`, the socket left open), a REST call answers 403.
   */
  addToken(token: string, scopes?: readonly string[]): void {
    this.tokens.add(token);
    if (scopes) this.tokenScopes.set(token, scopes);
    else this.tokenScopes.delete(token);
  }

  /** Sends Mastodon's error frame `{"error": error, "status": status}` to the open connections of `token`. */
  sendErrorFrame(token: string, status: number, error: string): number {
    return this.emit(token, JSON.stringify({ error, status }));
  }

  /** Closes the open connections of `token` with a close frame that carries no code (the client sees 1005). */
  closeWithoutCode(token: string): void {
    for (const connection of [...(this.byToken.get(token) ?? [])]) connection.socket.close();
  }

  /** Later upgrades with `token` answer 401; with `closeCode`, its open connections are closed too (as Mastodon does). */
  revokeToken(token: string, closeCode?: number): void {
    this.tokens.delete(token);
    if (closeCode !== undefined) this.closeConnections(token, closeCode);
  }

  /**
   * Later upgrades with `token` answer `status` (403 is what Mastodon answers
   * for a token lacking the scope the stream needs); with `closeCode`, its
   * open connections are closed too.
   */
  refuseToken(token: string, status: number, closeCode?: number): void {
    this.tokens.delete(token);
    this.refusedTokens.set(token, status);
    if (closeCode !== undefined) this.closeConnections(token, closeCode);
  }

  /** Answers every upgrade with `status` until called with undefined. */
  refuseUpgrades(status: number | undefined): void {
    this.refuseStatus = status;
  }

  /**
   * What an instance restart or deploy looks like from outside: every open
   * connection is cut and upgrades answer `status` until `endOutage`.
   * `upgradeAttempts` keeps counting meanwhile.
   */
  beginOutage(status = 503): void {
    this.refuseUpgrades(status);
    this.dropAll();
  }

  endOutage(): void {
    this.refuseUpgrades(undefined);
  }

  /**
   * Answers upgrades to `/api/v1/streaming` with a 302 to `location` (path and
   * query, or an absolute URL; the original query is appended when it has none).
   * Upgrades to any other path ending in `/api/v1/streaming` are served.
   */
  redirectUpgrades(location: string | undefined): void {
    this.redirectLocation = location;
  }

  /** Open connections, of `token` when given. */
  openConnections(token?: string): FakeConnection[] {
    const result: FakeConnection[] = [];
    const source =
      token === undefined ? this.live.values() : (this.byToken.get(token) ?? new Set()).values();
    for (const connection of source) result.push(connection.record);
    return result;
  }

  get openCount(): number {
    return this.live.size;
  }

  /** Open streams per token, for the tokens that have any. */
  openCountByToken(): Map<string, number> {
    return new Map([...this.byToken].map(([token, set]) => [token, set.size]));
  }

  /** Sends `frame` to the open connections of `token` (of stream `stream` only, when given); returns how many. */
  emit(token: string, frame: FakeFrame, stream?: string): number {
    let sent = 0;
    for (const connection of this.byToken.get(token) ?? []) {
      if (stream !== undefined && connection.record.stream !== stream) continue;
      const { data, binary } = encodeFrame(frame, connection.record.stream);
      connection.socket.send(data, { binary });
      sent += 1;
    }
    return sent;
  }

  /** Sends `frame` to every open connection; returns how many. */
  emitToAll(frame: FakeFrame): number {
    for (const connection of this.live.values()) {
      const { data, binary } = encodeFrame(frame, connection.record.stream);
      connection.socket.send(data, { binary });
    }
    return this.live.size;
  }

  /**
   * Sends `count` frames made by `frame(sequence)`, one connection after the
   * other across calls (round robin), so a steady rate spreads over all streams.
   */
  emitRoundRobin(count: number, frame: (sequence: number) => FakeFrame): number {
    let sent = 0;
    for (let i = 0; i < count && this.live.size > 0; i++) {
      let next = this.cursor?.next();
      if (!next || next.done) {
        this.cursor = this.live.values();
        next = this.cursor.next();
      }
      const connection = next.value as LiveConnection;
      if (connection.socket.readyState !== WebSocket.OPEN) continue;
      const { data, binary } = encodeFrame(frame(this.sequence++), connection.record.stream);
      connection.socket.send(data, { binary });
      sent += 1;
    }
    return sent;
  }

  /**
   * Makes a notification for `token` as Mastodon would: stored for
   * `/api/v1/notifications` whether or not a stream is connected, and sent to
   * the token's open `user` and `user:notification` streams. Ids increase.
   */
  notify(token: string, fields: Record<string, unknown> = {}): StoredObject {
    const id = String(this.nextNotificationId++);
    const json = JSON.stringify({
      id,
      type: 'mention',
      created_at: new Date().toISOString(),
      account: { id: '7', acct: 'alice@fake.test' },
      ...fields,
    });
    const stored: StoredObject = { key: id, json };
    let list = this.notificationStore.get(token);
    if (!list) {
      list = [];
      this.notificationStore.set(token, list);
    }
    list.push(stored);
    void this.push.deliver(token, id);
    for (const connection of this.byToken.get(token) ?? []) {
      if (connection.record.stream === 'direct') continue;
      const { data } = encodeFrame(
        { event: 'notification', payload: json },
        connection.record.stream,
      );
      connection.socket.send(data);
    }
    return stored;
  }

  /**
   * A new direct message in conversation `conversationId` of `token`: the
   * conversation (with the new status as last_status) is stored for
   * `/api/v1/conversations` and sent as `conversation` to open `direct` streams.
   */
  converse(token: string, conversationId: string, text = 'hello'): StoredObject {
    const statusId = String(this.nextStatusId++);
    const json = JSON.stringify({
      id: conversationId,
      unread: true,
      accounts: [{ id: '7', acct: 'alice@fake.test' }],
      last_status: {
        id: statusId,
        created_at: new Date().toISOString(),
        visibility: 'direct',
        content: `<p>${text}</p>`,
      },
    });
    const stored: StoredObject = { key: statusId, json };
    let conversations = this.conversationStore.get(token);
    if (!conversations) {
      conversations = new Map();
      this.conversationStore.set(token, conversations);
    }
    conversations.set(conversationId, stored);
    for (const connection of this.byToken.get(token) ?? []) {
      if (connection.record.stream !== 'direct') continue;
      const { data } = encodeFrame({ event: 'conversation', payload: json }, 'direct');
      connection.socket.send(data);
    }
    return stored;
  }

  /** Stores a notification with the exact JSON `json` (id `key`) without streaming it. */
  storeNotification(token: string, key: string, json: string): void {
    const list = this.notificationStore.get(token) ?? [];
    list.push({ key, json });
    list.sort((a, b) => compareIds(a.key, b.key));
    this.notificationStore.set(token, list);
  }

  /**
   * The next `count` requests to the notification or conversation lists answer
   * `status` (e.g. 429) with `headers` (e.g. Retry-After), then normal service resumes.
   */
  refuseRest(status: number, count: number, headers: Record<string, string> = {}): void {
    this.restRefusals.push({ status, remaining: count, headers });
  }

  /** Closes the open connections of `token` with `code`. */
  closeConnections(token: string, code: number, reason = ''): void {
    for (const connection of [...(this.byToken.get(token) ?? [])])
      connection.socket.close(code, reason);
  }

  /** Cuts every open connection without a closing handshake. */
  dropAll(): void {
    for (const connection of [...this.live.values()]) connection.socket.terminate();
  }

  /** Stops reading the connections of `token`: pings go unanswered, as with a dead peer. */
  silence(token: string): void {
    for (const connection of this.byToken.get(token) ?? []) connection.socket.pause();
  }

  /** Waits until a recorded connection matches. */
  async waitForConnection(
    match: (connection: FakeConnection) => boolean,
    timeoutMs = 20_000,
  ): Promise<FakeConnection> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.connections.find((c) => !c.closed && match(c));
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error('timed out waiting for a matching streaming connection');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async stop(): Promise<void> {
    for (const connection of [...this.live.values()]) connection.socket.terminate();
    for (const socket of this.rawSockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.push.close();
  }

  private handleRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/api/v1/push/subscription') {
      this.push.handle(req, res);
      return;
    }
    if (req.method === 'GET' && /^\/api\/v1\/notifications\/[^/]+$/.test(path)) {
      this.answerNotification(req, res, decodeURIComponent(path.slice('/api/v1/notifications/'.length)));
      return;
    }
    if (req.method === 'GET' && REST_COLLECTIONS.has(path)) {
      this.handleList(req, res, path);
      return;
    }
    if (req.method !== 'GET' || path !== '/api/v1/instance') {
      res
        .writeHead(404, { 'Content-Type': 'application/json' })
        .end('{"error":"Record not found"}');
      return;
    }
    this.instanceInfoRequests += 1;
    if (this.instanceInfoStatus !== undefined) {
      res
        .writeHead(this.instanceInfoStatus, { 'Content-Type': 'application/json' })
        .end('{"error":"unavailable"}');
      return;
    }
    const body =
      this.instanceInfoBody ??
      JSON.stringify({
        uri: `127.0.0.1:${this.port}`,
        title: 'Fake Mastodon',
        version: this.version,
        urls: this.streamingApi === undefined ? {} : { streaming_api: this.streamingApi },
      });
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' }).end(body);
  }

  /** The bearer of `req` when it may use `scope`; else the status Mastodon answers (401 unknown token, 403 scope). */
  authorize(req: http.IncomingMessage, scope: string): { token: string } | { status: number } {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !(this.tokens.has(token) || this.options.acceptToken?.(token)))
      return { status: (token && this.refusedTokens.get(token)) || 401 };
    const scopes = this.tokenScopes.get(token);
    if (scopes && !scopeCovers(scopes, scope)) return { status: 403 };
    return { token };
  }

  /** `GET /api/v1/notifications/<id>`: the token's notification as stored, else 404. */
  private answerNotification(req: http.IncomingMessage, res: http.ServerResponse, id: string): void {
    this.notificationReads += 1;
    const answer = (status: number, body: string): void => {
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' }).end(body);
    };
    const caller = this.authorize(req, 'read:notifications');
    if ('status' in caller) return answer(caller.status, '{"error":"The access token is invalid"}');
    const found = this.notificationStore.get(caller.token)?.find((item) => item.key === id);
    if (found) return answer(200, found.json);
    // the benchmark's instance accepts any token and keeps nothing: it answers what it would have stored
    if (this.options.acceptToken && /^[0-9]+$/.test(id))
      return answer(200, JSON.stringify({ id, type: 'mention', created_at: new Date().toISOString() }));
    answer(404, '{"error":"Record not found"}');
  }

  /**
   * `/api/v1/notifications` and `/api/v1/conversations` like Mastodon: newest
   * first, `limit` 40 by default and at most 80, `max_id` (older than),
   * `since_id` (newer than, newest page), `min_id` (newer than, the page right
   * after it), a Link header with `next` when the page is full and `prev`.
   */
  private handleList(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
    const at = Date.now();
    this.restArrivals += 1;
    if (this.restDelayMs > 0) {
      setTimeout(() => this.answerList(req, res, path, at), this.restDelayMs);
      return;
    }
    this.answerList(req, res, path, at);
  }

  private answerList(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    path: string,
    at: number,
  ): void {
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const answer = (status: number, body: string, headers: Record<string, string> = {}) => {
      if (this.options.record !== false) {
        this.restRequests.push({
          path,
          query: Object.fromEntries(url.searchParams),
          token,
          status,
          at,
        });
      }
      res
        .writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers })
        .end(body);
    };
    const refusal = this.restRefusals[0];
    if (refusal) {
      refusal.remaining -= 1;
      if (refusal.remaining <= 0) this.restRefusals.shift();
      answer(refusal.status, '{"error":"Too many requests"}', refusal.headers);
      return;
    }
    if (!token || !(this.tokens.has(token) || this.options.acceptToken?.(token))) {
      answer(401, '{"error":"The access token is invalid"}');
      return;
    }
    const scopes = this.tokenScopes.get(token);
    if (scopes && !scopeCovers(scopes, REST_SCOPES[path])) {
      answer(403, '{"error":"This action is outside the authorized scopes"}');
      return;
    }
    const all =
      path === '/api/v1/notifications'
        ? (this.notificationStore.get(token) ?? [])
        : [...(this.conversationStore.get(token)?.values() ?? [])].sort((a, b) =>
            compareIds(a.key, b.key),
          );
    const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? 40) || 40, 1), 80);
    const maxId = url.searchParams.get('max_id');
    const sinceId = url.searchParams.get('since_id');
    const minId = url.searchParams.get('min_id');
    let matching = all.filter(
      (item) =>
        (maxId === null || compareIds(item.key, maxId) < 0) &&
        (sinceId === null || compareIds(item.key, sinceId) > 0) &&
        (minId === null || compareIds(item.key, minId) > 0),
    );
    // oldest first here: min_id takes the page right after it, otherwise the newest page
    matching = minId !== null ? matching.slice(0, limit) : matching.slice(-limit);
    const page = matching.reverse();
    const links: string[] = [];
    const base = `${this.url}${path}`;
    if (page.length === limit)
      links.push(`<${base}?limit=${limit}&max_id=${page[page.length - 1].key}>; rel="next"`);
    if (page.length > 0) links.push(`<${base}?limit=${limit}&min_id=${page[0].key}>; rel="prev"`);
    answer(
      200,
      `[${page.map((item) => item.json).join(',')}]`,
      links.length > 0 ? { Link: links.join(', ') } : {},
    );
  }

  private handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.upgradeAttempts += 1;
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    if (!url.pathname.endsWith(STREAMING_PATH)) return this.rejectUpgrade(socket, 404);
    if (this.refuseStatus !== undefined) return this.rejectUpgrade(socket, this.refuseStatus);
    if (this.redirectLocation !== undefined && url.pathname === STREAMING_PATH) {
      const location = this.redirectLocation.includes('?')
        ? this.redirectLocation
        : `${this.redirectLocation}${url.search}`;
      return this.rejectUpgrade(socket, 302, { Location: location });
    }
    const authorization = req.headers.authorization;
    const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    if (!token || !(this.tokens.has(token) || this.options.acceptToken?.(token))) {
      const status = (token && this.refusedTokens.get(token)) || 401;
      if (this.options.record !== false) this.refusedUpgrades.push({ token, status });
      return this.rejectUpgrade(socket, status);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) =>
      this.accept(ws, token, url, req.url ?? '', authorization),
    );
  }

  private accept(
    socket: WebSocket,
    token: string,
    url: URL,
    rawUrl: string,
    authorization: string | undefined,
  ): void {
    this.connectionsOpened += 1;
    const record: FakeConnection = {
      id: this.nextId++,
      token,
      stream: url.searchParams.get('stream') ?? '',
      url: rawUrl,
      authorization,
      openedAt: Date.now(),
      closed: false,
    };
    if (this.options.record !== false) this.connections.push(record);
    const connection: LiveConnection = { record, socket };
    this.live.set(socket, connection);
    let forToken = this.byToken.get(token);
    if (!forToken) {
      forToken = new Set();
      this.byToken.set(token, forToken);
    }
    forToken.add(connection);
    this.peakOpen = Math.max(this.peakOpen, this.live.size);
    if (forToken.size === 2) {
      this.overlapSince.set(token, Date.now());
      this.tokensEverHeldTwice.add(token);
    }
    socket.on('error', () => undefined);
    const scopes = this.tokenScopes.get(token);
    const needed = STREAM_SCOPES[record.stream];
    if (scopes && needed && !scopeCovers(scopes, needed)) {
      socket.send(JSON.stringify({ error: 'Access token does not have the required scopes', status: 401 }));
    }
    socket.on('close', (code: number) => {
      record.closed = true;
      record.closeCode = code;
      this.live.delete(socket);
      const set = this.byToken.get(token);
      set?.delete(connection);
      if (set && set.size === 0) this.byToken.delete(token);
      const since = this.overlapSince.get(token);
      if (since !== undefined && (set?.size ?? 0) < 2) {
        this.overlapSince.delete(token);
        this.longestOverlapMs = Math.max(this.longestOverlapMs, Date.now() - since);
      }
    });
  }

  private rejectUpgrade(
    socket: Duplex,
    status: number,
    headers: Record<string, string> = {},
  ): void {
    const lines = [
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Status'}`,
      'Connection: close',
      'Content-Length: 0',
    ];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    socket.end(`${lines.join('\r\n')}\r\n\r\n`);
  }
}

/**
 * `node dist/test/support/fake-mastodon.js [--port N] [--version V]`: a fake
 * instance in its own process that accepts any token and records nothing.
 * Prints `{"port":N}` once listening. When started with an IPC channel
 * (child_process.fork) it takes messages {type:'emitToAll'|'emit'|'dropAll'|'stats', ...}
 * and answers `stats` with {type:'stats', open, opened, upgrades, sent}.
 * {type:'emitRate', perSecond, seconds} sends notifications round robin at that
 * rate, each payload `{"id":"<sequence>","sentAt":<ms epoch>}`, then answers {type:'emitted', sent}.
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string) => {
    const index = args.indexOf(`--${name}`);
    return index >= 0 ? args[index + 1] : undefined;
  };
  const fake = await FakeMastodon.start({
    port: Number(option('port') ?? 0),
    version: option('version') ?? '4.3.0',
    acceptToken: () => true,
    record: false,
  });
  process.stdout.write(`${JSON.stringify({ port: fake.port })}\n`);
  let sent = 0;
  const emitRate = (perSecond: number, seconds: number) => {
    const tickMs = 10;
    const started = Date.now();
    const timer = setInterval(() => {
      const elapsed = Date.now() - started;
      const due = Math.min(perSecond * seconds, Math.floor((elapsed * perSecond) / 1000));
      sent += fake.emitRoundRobin(due - sent, (sequence) => ({
        event: 'notification',
        payload: JSON.stringify({ id: String(sequence), sentAt: Date.now() }),
      }));
      if (elapsed >= seconds * 1000) {
        clearInterval(timer);
        process.send?.({ type: 'emitted', sent });
      }
    }, tickMs);
  };
  process.on(
    'message',
    (message: {
      type?: string;
      token?: string;
      frame?: FakeFrame;
      perSecond?: number;
      seconds?: number;
    }) => {
      if (message.type === 'emitRate') {
        sent = 0;
        emitRate(Number(message.perSecond ?? 100), Number(message.seconds ?? 10));
      } else if (message.type === 'emitToAll' && message.frame !== undefined)
        fake.emitToAll(message.frame);
      else if (message.type === 'emit' && message.token && message.frame !== undefined)
        fake.emit(message.token, message.frame);
      else if (message.type === 'dropAll') fake.dropAll();
      else if (message.type === 'stats') {
        process.send?.({
          type: 'stats',
          open: fake.openCount,
          opened: fake.connectionsOpened,
          upgrades: fake.upgradeAttempts,
          sent,
        });
      }
    },
  );
  const stop = () => void fake.stop().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`fake mastodon failed: ${error.message}\n`);
    process.exit(1);
  });
}
