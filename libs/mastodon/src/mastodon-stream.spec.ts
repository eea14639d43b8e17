import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import {
  classifyStreamError,
  MastodonStream,
  MastodonStreamHandler,
  StreamEnd,
} from './mastodon-stream';
import { waitFor } from '../../../test/support/wait-for';
import { RefusedAddressError } from './address-guard.service';

describe('classifyStreamError', () => {
  it.each([
    [
      Object.assign(new Error('connect ECONNREFUSED 1.2.3.4:443'), { code: 'ECONNREFUSED' }),
      'network',
    ],
    [new Error('Opening handshake has timed out'), 'timeout'],
    [
      Object.assign(new Error('Max payload size exceeded'), {
        code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
      }),
      'too_large',
    ],
    [
      Object.assign(new Error('Invalid WebSocket frame: invalid opcode 7'), {
        code: 'WS_ERR_INVALID_OPCODE',
      }),
      'closed',
    ],
    [new Error('Maximum redirects exceeded'), 'http_status'],
    [
      new RefusedAddressError('h.example', 'resolves to a loopback, private or link-local address'),
      'refused_address',
    ],
    [new Error('something else'), 'network'],
    [Object.assign(new Error('read timed out'), { code: 'ETIMEDOUT' }), 'timeout'],
    [Object.assign(new Error('refused'), { code: 'ERR_MSL_REFUSED_ADDRESS' }), 'refused_address'],
    [new Error('Unexpected server response: 502'), 'http_status'],
  ])('classifies %s', (error, reason) => {
    expect(classifyStreamError(error).reason).toBe(reason);
  });

  it('names the error code in the detail, and keeps the detail short', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 1.2.3.4:443'), { code: 'ECONNREFUSED' });
    expect(classifyStreamError(refused).detail).toBe('ECONNREFUSED: connect ECONNREFUSED 1.2.3.4:443');
    expect(classifyStreamError(new Error('x'.repeat(500))).detail).toBe('x'.repeat(160));
  });

  it('keeps query strings out of the detail', () => {
    expect(classifyStreamError(new Error('Invalid URL: wss://h/?access_token=secret')).detail).toBe(
      'Invalid URL: wss://h/?…',
    );
  });
});

describe('MastodonStream against a local server', () => {
  let server: http.Server;
  let wss: WebSocketServer;
  let url: URL;
  const seen: { authorization?: string; url?: string }[] = [];
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    server = http.createServer();
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      seen.push({ authorization: req.headers.authorization, url: req.url });
      // a token without the read scope is answered 403, a broken instance 500
      const refusal =
        req.headers.authorization === 'Bearer scoped'
          ? '403 Forbidden'
          : req.headers.authorization === 'Bearer broken'
            ? '500 Internal Server Error'
            : req.headers.authorization !== 'Bearer good'
              ? '401 Unauthorized'
              : undefined;
      if (refusal) {
        socket.end(`HTTP/1.1 ${refusal}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.send(JSON.stringify({ event: 'notification', payload: '{"id":"1"}' }));
        ws.close(4000, 'bye');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = new URL(
      `ws://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/streaming?stream=user`,
    );
  });

  afterAll(async () => {
    // close() waits for every connection to end: do not leave that to the peers' timing
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  function run(token: string): Promise<{ events: string[]; end: StreamEnd }> {
    return new Promise((resolve) => {
      const events: string[] = [];
      const handler: MastodonStreamHandler<string> = {
        streamOpened: () => events.push('open'),
        streamMessage: (_stream, data) => events.push(data.toString()),
        streamEnded: (_stream, end) => resolve({ events, end }),
      };
      new MastodonStream('ctx', handler).open({ url, accessToken: token, guard: false });
    });
  }

  it('sends the token in the Authorization header only and reports a server close once', async () => {
    const { events, end } = await run('good');
    expect(seen.at(-1)).toEqual({
      authorization: 'Bearer good',
      url: '/api/v1/streaming?stream=user',
    });
    expect(events).toEqual(['open', '{"event":"notification","payload":"{\\"id\\":\\"1\\"}"}']);
    expect(end).toEqual({
      reason: 'closed',
      opened: true,
      deliberate: false,
      code: 4000,
      detail: 'closed with code 4000',
    });
  });

  it('reports a 401 upgrade as unauthorized with its status', async () => {
    const { events, end } = await run('revoked');
    expect(events).toEqual([]);
    expect(end).toEqual({
      reason: 'unauthorized',
      status: 401,
      opened: false,
      deliberate: false,
      detail: 'upgrade answered HTTP 401',
    });
  });

  it('reports a 403 upgrade (a token without the needed scope) as unauthorized too', async () => {
    const { events, end } = await run('scoped');
    expect(events).toEqual([]);
    expect(end).toMatchObject({
      reason: 'unauthorized',
      status: 403,
      detail: 'upgrade answered HTTP 403',
      opened: false,
    });
  });

  it('reports another refused upgrade as an HTTP status, not as a refused token', async () => {
    const { events, end } = await run('broken');
    expect(events).toEqual([]);
    expect(end).toMatchObject({
      reason: 'http_status',
      status: 500,
      detail: 'upgrade answered HTTP 500',
      opened: false,
    });
  });

  it('reports a refused connection as a network failure', async () => {
    const closed = new URL(url);
    closed.port = '1';
    const end = await new Promise<StreamEnd>((resolve) => {
      new MastodonStream('ctx', {
        streamOpened: () => undefined,
        streamMessage: () => undefined,
        streamEnded: (_s, e) => resolve(e),
      }).open({
        url: closed,
        accessToken: 'x',
        guard: false,
      });
    });
    expect(end).toMatchObject({ reason: 'network', opened: false });
    // no close code before it opened, no HTTP status without an answer
    expect(Object.keys(end).sort()).toEqual(['deliberate', 'detail', 'opened', 'reason']);
  });
});

describe('MastodonStream: options, pings and redirects', () => {
  let server: http.Server;
  /** Answers pings (as every WebSocket server does). */
  let answering: WebSocketServer;
  /** Never answers a ping: a dead peer whose socket still looks open. */
  let mute: WebSocketServer;
  let base: string;
  const upgrades: http.IncomingHttpHeaders[] = [];
  const sockets = new Set<Socket>();
  /** The server side of the latest stream. */
  let lastServerSocket: WebSocket | undefined;

  beforeAll(async () => {
    server = http.createServer();
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    answering = new WebSocketServer({ noServer: true });
    mute = new WebSocketServer({ noServer: true, autoPong: false });
    server.on('upgrade', (req, socket, head) => {
      upgrades.push(req.headers);
      const path = (req.url ?? '').split('?')[0];
      if (path === '/hang') return; // never answers: the handshake times out
      if (path === '/deaf') {
        // accepts the upgrade, then reads nothing: a close the stream starts is never answered
        const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        socket.pause();
        return;
      }
      if (path === '/moved' || path === '/moved-twice' || path === '/loop') {
        const to = path === '/moved' ? '/open' : path === '/moved-twice' ? '/moved' : '/loop';
        socket.end(`HTTP/1.1 301 Moved Permanently\r\nLocation: ${to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        return;
      }
      const wss = path === '/mute' ? mute : answering;
      wss.handleUpgrade(req, socket, head, (ws) => {
        lastServerSocket = ws;
        if (path === '/big') ws.send('x'.repeat(2_048));
        // after the first few pings (answered by pongs), each ping is also answered with a message
        let pings = 0;
        if (path === '/talk') ws.on('ping', () => (++pings > 3 ? ws.send('{"event":"ping-seen"}') : undefined));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  /** Opens a stream at `path`; resolves once it opened (or ended first), with a promise of its end. */
  function start(
    path: string,
    options: Partial<{ guard: boolean; maxPayloadBytes: number; handshakeTimeoutMs: number; maxRedirects: number; userAgent: string }> = {},
    onMessage: () => void = () => undefined,
  ): { stream: MastodonStream<string>; opened: Promise<boolean>; ended: Promise<StreamEnd> } {
    let opened!: (value: boolean) => void;
    let ended!: (end: StreamEnd) => void;
    const openedPromise = new Promise<boolean>((resolve) => (opened = resolve));
    const endedPromise = new Promise<StreamEnd>((resolve) => (ended = resolve));
    const stream = new MastodonStream('ctx', {
      streamOpened: () => opened(true),
      streamMessage: () => onMessage(),
      streamEnded: (_s, end) => {
        opened(false);
        ended(end);
      },
    });
    stream.open({ url: new URL(`${base}${path}`), accessToken: 'tok', guard: false, ...options });
    return { stream, opened: openedPromise, ended: endedPromise };
  }

  it('is open only between its open and its end', async () => {
    const { stream, opened, ended } = start('/open');
    expect(stream.isOpen).toBe(false);
    expect(await opened).toBe(true);
    expect(stream.isOpen).toBe(true);
    const closing = new Promise<string>((resolve) =>
      lastServerSocket!.once('close', (_code: number, reason: Buffer) => resolve(reason.toString())),
    );
    stream.close();
    expect(await ended).toMatchObject({ deliberate: true, opened: true, code: 1000 });
    expect(stream.isOpen).toBe(false);
    // a plain 1000 with no reason text
    expect(await closing).toBe('');
  });

  it('names itself in User-Agent and asks for no compression', async () => {
    const plain = start('/open');
    await plain.opened;
    expect(upgrades.at(-1)?.['user-agent']).toBe('mastodon-streaming-listener');
    expect(upgrades.at(-1)?.['sec-websocket-extensions']).toBeUndefined();
    plain.stream.close();
    await plain.ended;
    const named = start('/open', { userAgent: 'relay/2.0' });
    await named.opened;
    expect(upgrades.at(-1)?.['user-agent']).toBe('relay/2.0');
    named.stream.close();
    await named.ended;
  });

  it('cuts a peer that left a ping unanswered at the next sweep, unless this process itself was stalled', async () => {
    const { stream, opened, ended } = start('/mute');
    await opened;
    expect(stream.ping()).toBe(true);
    // the sweep itself came late: the answer may be waiting unread
    expect(stream.ping(true)).toBe(true);
    expect(stream.ping()).toBe(false);
    expect(await ended).toMatchObject({ reason: 'timeout', detail: 'no pong since the previous ping', opened: true });
  });

  it('keeps a peer that answers its pings, with a pong or with any frame', async () => {
    let frames = 0;
    const { stream, opened, ended } = start('/talk', {}, () => (frames += 1));
    await opened;
    const pongs = () => (stream as unknown as { socket: { once(event: 'pong', listener: () => void): void } }).socket;
    for (let i = 0; i < 3; i++) {
      const pong = new Promise<void>((resolve) => pongs().once('pong', resolve));
      expect(stream.ping()).toBe(true);
      await pong;
    }
    // this peer also sends a message for each ping it gets: a frame is an answer as good as a pong
    const before = frames;
    expect(stream.ping()).toBe(true);
    await waitFor(() => frames > before, { what: 'the frame answering the ping' });
    expect(stream.ping()).toBe(true);
    expect(stream.isOpen).toBe(true);
    stream.close();
    await ended;
  });

  // the configured 100 ms ends the handshake; the 15 s default in its place would outlast this test's 10 s
  it('answers true to a ping before it opened or after it ended (nothing to cut); ends a handshake after handshakeTimeoutMs', async () => {
    const { stream, ended } = start('/hang', { handshakeTimeoutMs: 100 });
    expect(stream.ping()).toBe(true);
    expect(await ended).toMatchObject({ reason: 'timeout', opened: false });
    expect(stream.ping()).toBe(true);
  }, 10_000);

  it('never cuts a stream already closing: its close reports the end', async () => {
    const { stream, opened, ended } = start('/deaf');
    expect(await opened).toBe(true);
    stream.close();
    // the peer never answers the close, nor a ping: a sweep must not take that for a dead peer
    expect(stream.ping()).toBe(true);
    expect(stream.ping()).toBe(true);
    stream.terminate();
    expect(await ended).toMatchObject({ reason: 'closed', deliberate: true, opened: true });
  });

  it('still ends a stream whose close the socket refuses (a code WebSocket does not allow)', async () => {
    const { stream, opened, ended } = start('/open');
    expect(await opened).toBe(true);
    // 1005 is reserved: ws throws, and the stream drops the connection instead
    expect(() => stream.close(1005)).not.toThrow();
    expect(await ended).toMatchObject({ deliberate: true, opened: true, code: 1006 });
  });

  it('ends a frame over maxPayloadBytes as too large', async () => {
    const { ended } = start('/big', { maxPayloadBytes: 1_024 });
    expect(await ended).toMatchObject({ reason: 'too_large', opened: true });
  });

  it('follows a redirect, up to maxRedirects', async () => {
    const moved = start('/moved');
    expect(await moved.opened).toBe(true);
    moved.stream.close();
    await moved.ended;
    const loop = start('/loop', { maxRedirects: 2 });
    expect(await loop.ended).toMatchObject({ reason: 'http_status', opened: false });
    // two hops where one is allowed
    const twice = start('/moved-twice', { maxRedirects: 1 });
    expect(await twice.ended).toMatchObject({ reason: 'http_status', opened: false });
  });

  it('closes a stream still connecting at once, and marks every end it asked for as deliberate', async () => {
    const connecting = start('/hang', { handshakeTimeoutMs: 60_000 });
    connecting.stream.close();
    expect(await connecting.ended).toMatchObject({ deliberate: true, opened: false });
    const open = start('/open');
    await open.opened;
    open.stream.terminate();
    expect(await open.ended).toMatchObject({ deliberate: true, opened: true, code: 1006 });
  });

  it('refuses a redirect to a private address when the URL came from outside', async () => {
    const { ended } = start('/moved', { guard: true });
    expect(await ended).toMatchObject({
      reason: 'refused_address',
      detail: 'redirect to a loopback, private or link-local address refused',
      opened: false,
    });
  });

  it('reports a URL it cannot open as a network failure, without throwing', async () => {
    const end = await new Promise<StreamEnd>((resolve) => {
      new MastodonStream('ctx', {
        streamOpened: () => undefined,
        streamMessage: () => undefined,
        streamEnded: (_s, e) => resolve(e),
      }).open({ url: new URL('ftp://127.0.0.1/'), accessToken: 'tok', guard: false });
    });
    expect(end).toMatchObject({ reason: 'network', opened: false, deliberate: false });
  });
});
