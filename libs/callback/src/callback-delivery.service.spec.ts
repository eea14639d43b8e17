import dns from 'node:dns';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { AppConfigService, AppEntry, Settings } from '@app/config';
import { MetricsService } from '@app/observability';
import { CallbackDeliveryService, CallbackRequest } from './callback-delivery.service';
import { CallbackHttpAgents } from './callback-http-agents';

// a deadline far above what a loaded machine takes to answer on loopback; the timeout case sets its own
const settings = {
  callback: { timeoutMs: 60_000, maxConcurrentPerHost: 2, maxResponseBytes: 1_024 },
} as Settings;

const apps: Record<string, AppEntry> = {
  trusted: { secret: 'app-secret', callbackUrlPrefix: 'http://127.0.0.1:' },
  public: { secret: 'app-secret' },
  trustedName: { secret: 'app-secret', callbackUrlPrefix: 'http://receiver.test:' },
};

/** The system resolver, except that receiver.test is answered with a loopback address. */
function resolveReceiverTestToLoopback(): jest.SpyInstance {
  const systemLookup = dns.lookup;
  return jest.spyOn(dns, 'lookup').mockImplementation(((
    hostname: string,
    options: dns.LookupOptions,
    callback: (...args: unknown[]) => void,
  ) => {
    if (hostname !== 'receiver.test') return systemLookup(hostname, options, callback);
    if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
    else callback(null, '127.0.0.1', 4);
  }) as typeof dns.lookup);
}

/** Lets the client finish with the previous answer, so its connection is free for the next request. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

interface Arrival {
  path: string;
  webhookId: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: string;
  socket: Socket;
  /** Which request this is on its connection (1 = the first). */
  onSocket: number;
  res: http.ServerResponse;
}

/** A receiver on 127.0.0.1 whose handler the test sets per case. */
class Receiver {
  readonly arrivals: Arrival[] = [];
  open = 0;
  mostOpen = 0;
  handle: (arrival: Arrival) => void = ({ res }) => res.writeHead(204).end();
  private readonly server = http.createServer((req, res) => {
    const socket = req.socket as Socket & { requestsSeen?: number };
    socket.requestsSeen = (socket.requestsSeen ?? 0) + 1;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const arrival = {
        path: req.url ?? '',
        webhookId: req.headers['webhook-id'] as string | undefined,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        socket,
        onSocket: socket.requestsSeen ?? 0,
        res,
      };
      this.arrivals.push(arrival);
      this.handle(arrival);
    });
  });

  async start(): Promise<void> {
    this.server.keepAliveTimeout = 30_000;
    this.server.on('connection', (socket: Socket) => {
      this.mostOpen = Math.max(this.mostOpen, ++this.open);
      socket.on('close', () => this.open--);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('CallbackDeliveryService (undici against a loopback receiver)', () => {
  let receiver: Receiver;
  let agents: CallbackHttpAgents;
  let service: CallbackDeliveryService;
  let nextId = 0;

  const request = (path: string, appId = 'trusted', host = '127.0.0.1'): CallbackRequest => ({
    callbackUrl: `http://${host}:${receiver.port}${path}`,
    appId,
    webhookId: `msg_${++nextId}`,
    body: JSON.stringify({ event: 'notification', payload: '{"id":"1"}' }),
  });

  beforeEach(async () => {
    // before the agents are made: their lookup takes the resolver then
    resolveReceiverTestToLoopback();
    receiver = new Receiver();
    await receiver.start();
    agents = new CallbackHttpAgents(settings);
    const config = { findApp: (appId: string) => apps[appId] } as AppConfigService;
    service = new CallbackDeliveryService(agents, config, settings, new MetricsService());
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await agents.onApplicationShutdown();
    await receiver.stop();
  });

  it('POSTs the signed body and keeps the connection for the next request', async () => {
    const sent = request('/a');
    expect(await service.attempt(sent)).toEqual({ kind: 'delivered' });
    await settle();
    expect(await service.attempt(request('/b'))).toEqual({ kind: 'delivered' });
    const [first, second] = receiver.arrivals;
    expect(first.webhookId).toBe(sent.webhookId);
    expect(first.body).toBe(sent.body);
    expect(first.headers['content-type']).toBe('application/json');
    const verifier = new Webhook(Buffer.from('app-secret', 'utf8'), { format: 'raw' });
    expect(() =>
      verifier.verify(first.body, first.headers as Record<string, string>),
    ).not.toThrow();
    expect(second.socket).toBe(first.socket);
    expect(second.onSocket).toBe(2);
  });

  it('passes the status and Retry-After on, and follows no redirect', async () => {
    receiver.handle = ({ path, res }) => {
      if (path === '/busy') res.writeHead(503, { 'Retry-After': '7' }).end();
      else if (path === '/moved') res.writeHead(302, { Location: '/elsewhere' }).end();
      else res.writeHead(204).end();
    };
    expect(await service.attempt(request('/busy'))).toEqual({
      kind: 'retry',
      reason: 'HTTP 503',
      retryAfterMs: 7_000,
    });
    expect(await service.attempt(request('/moved'))).toEqual({ kind: 'drop', reason: 'HTTP 302' });
    expect(receiver.arrivals.map((a) => a.path)).toEqual(['/busy', '/moved']);
  });

  it('reads no more than maxResponseBytes of an answer: the status counts, the client closes the connection', async () => {
    // the deadline (60 s) is beyond this case's 30 s: only the cap can close the connection in time
    receiver.handle = ({ res }) => {
      // three times the 1 KiB cap, then the answer is held open: a client that
      // reads without a cap waits here for the rest; one with the cap closes
      res.writeHead(503);
      for (let i = 0; i < 3; i++) res.write(Buffer.alloc(1_024, 'x'));
    };
    expect(await service.attempt(request('/long'))).toMatchObject({
      kind: 'retry',
      reason: 'HTTP 503',
    });
    const [arrival] = receiver.arrivals;
    if (!arrival.socket.destroyed)
      await new Promise((resolve) => arrival.socket.once('close', resolve));
    expect(arrival.res.writableEnded).toBe(false);
  }, 30_000);

  it('gives up at timeoutMs when the receiver does not answer', async () => {
    const hasty = { callback: { ...settings.callback, timeoutMs: 500 } } as Settings;
    const config = { findApp: (appId: string) => apps[appId] } as AppConfigService;
    service = new CallbackDeliveryService(agents, config, hasty, new MetricsService());
    receiver.handle = () => undefined;
    expect(await service.attempt(request('/silent'))).toEqual({ kind: 'retry', reason: 'timeout' });
  });

  it('opens at most maxConcurrentPerHost connections to one receiver', async () => {
    const held: http.ServerResponse[] = [];
    receiver.handle = ({ res }) => {
      held.push(res);
      if (held.length === 2)
        setTimeout(() => held.splice(0).forEach((r) => r.writeHead(204).end()), 50);
    };
    const verdicts = await Promise.all(
      Array.from({ length: 6 }, (_, i) => service.attempt(request(`/many/${i}`))),
    );
    expect(verdicts.every((v) => v.kind === 'delivered')).toBe(true);
    expect(receiver.arrivals).toHaveLength(6);
    expect(receiver.mostOpen).toBe(2);
  });

  it('repeats a request at once when a reused keep-alive connection is closed under it', async () => {
    receiver.handle = ({ onSocket, socket, res }) => {
      // a second request on a connection finds it closed, as when the receiver's idle timeout ran out
      if (onSocket === 2) socket.destroy();
      else res.writeHead(204).end();
    };
    const first = request('/first');
    expect(await service.attempt(first)).toEqual({ kind: 'delivered' });
    await settle();
    const second = request('/second');
    expect(await service.attempt(second)).toEqual({ kind: 'delivered' });
    expect(receiver.arrivals.map((a) => [a.path, a.webhookId, a.onSocket])).toEqual([
      ['/first', first.webhookId, 1],
      ['/second', second.webhookId, 2],
      ['/second', second.webhookId, 1],
    ]);
  });

  it('does not repeat when a fresh connection is closed without an answer', async () => {
    receiver.handle = ({ socket }) => socket.destroy();
    const verdict = await service.attempt(request('/crash'));
    expect(verdict.kind).toBe('retry');
    expect(receiver.arrivals).toHaveLength(1);
  });

  it.each([
    ['a loopback IPv4 literal', '127.0.0.1'],
    ['an IPv4-mapped loopback literal', '[::ffff:127.0.0.1]'],
    ['localhost', 'localhost'],
    ['a name resolving to loopback', 'receiver.test'],
  ])('refuses %s for an app without callbackUrlPrefix, without connecting', async (_, host) => {
    expect(await service.attempt(request('/private', 'public', host))).toMatchObject({
      kind: 'refused',
    });
    expect(receiver.arrivals).toHaveLength(0);
    expect(receiver.mostOpen).toBe(0);
  });

  it('connects to that name for an app whose callbackUrlPrefix covers it', async () => {
    expect(await service.attempt(request('/allowed', 'trustedName', 'receiver.test'))).toEqual({
      kind: 'delivered',
    });
    expect(receiver.arrivals.map((a) => a.headers.host)).toEqual([
      `receiver.test:${receiver.port}`,
    ]);
  });

  it('refuses a stored URL that leaves its prefix folder, without connecting', async () => {
    const folderApps: Record<string, AppEntry> = {
      ...apps,
      folder: { secret: 'app-secret', callbackUrlPrefix: `http://127.0.0.1:${receiver.port}/cb/` },
    };
    const config = { findApp: (appId: string) => folderApps[appId] } as AppConfigService;
    const folderService = new CallbackDeliveryService(
      agents,
      config,
      settings,
      new MetricsService(),
    );
    for (const path of [
      '/cb/../admin',
      '/cb/%2e%2e/admin',
      '/cb/.%2e/admin',
      '/cb/%2E%2E%2Fadmin',
      '/cb\\..\\admin',
    ]) {
      expect(await folderService.attempt(request(path, 'folder'))).toMatchObject({
        kind: 'refused',
      });
    }
    expect(receiver.arrivals).toHaveLength(0);
    expect(await folderService.attempt(request('/cb/user-1', 'folder'))).toEqual({
      kind: 'delivered',
    });
    expect(receiver.arrivals.map((a) => a.path)).toEqual(['/cb/user-1']);
  });

  it('refuses a callback URL with credentials or another scheme', async () => {
    const withCredentials = request('/x');
    withCredentials.callbackUrl = withCredentials.callbackUrl.replace('//', '//user:pw@');
    expect(await service.attempt(withCredentials)).toMatchObject({ kind: 'refused' });
    const ftp = request('/x');
    ftp.callbackUrl = ftp.callbackUrl.replace('http:', 'ftp:');
    expect(await service.attempt(ftp)).toMatchObject({ kind: 'refused' });
    expect(receiver.arrivals).toHaveLength(0);
  });
});
