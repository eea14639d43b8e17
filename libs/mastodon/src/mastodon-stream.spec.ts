import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import {
  classifyStreamError,
  MastodonStream,
  MastodonStreamHandler,
  StreamEnd,
} from './mastodon-stream';
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
  ])('classifies %s', (error, reason) => {
    expect(classifyStreamError(error).reason).toBe(reason);
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
    expect(end).toMatchObject({
      reason: 'unauthorized',
      status: 401,
      opened: false,
      deliberate: false,
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
  });
});
