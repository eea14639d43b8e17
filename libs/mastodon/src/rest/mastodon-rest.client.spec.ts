import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MastodonRestClient, PageRequest, REST_MAX_RESPONSE_BYTES } from './mastodon-rest.client';
import { MastodonRestError } from './mastodon-rest.error';

interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

describe('MastodonRestClient (against a local HTTP server)', () => {
  let server: http.Server;
  let base: string;
  let reply: Reply;
  let seen: { url: string; headers: http.IncomingHttpHeaders }[];
  const client = new MastodonRestClient();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      res.writeHead(reply.status ?? 200, { 'Content-Type': 'application/json', ...reply.headers });
      res.end(reply.body ?? '[]');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prefix/`;
  });

  beforeEach(() => {
    seen = [];
    reply = {};
  });

  afterAll(async () => {
    await client.onApplicationShutdown();
    await new Promise((resolve) => server.close(resolve));
  });

  const request = (overrides: Partial<PageRequest> = {}): PageRequest => ({
    base,
    guard: false,
    accessToken: 'tok_secret',
    collection: 'notifications',
    limit: 80,
    ...overrides,
  });

  async function failure(overrides: Partial<PageRequest> = {}): Promise<MastodonRestError> {
    const error = await client.page(request(overrides)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MastodonRestError);
    expect((error as Error).message).not.toContain('tok_secret');
    return error as MastodonRestError;
  }

  it('asks for a page with the token in the Authorization header only, and reads items and links', async () => {
    const first = '{"id":"12","created_at":"2024-11-22T10:00:00.000Z","s":"\\u00e9"}';
    reply = {
      body: `[${first},{"id":"11"}]`,
      headers: { Link: `<${base}api/v1/notifications?max_id=11>; rel="next"` },
    };
    const page = await client.page(request({ sinceId: '5', maxId: '20' }));
    expect(seen[0].url).toBe('/prefix/api/v1/notifications?limit=80&max_id=20&since_id=5');
    expect(seen[0].headers.authorization).toBe('Bearer tok_secret');
    expect(page.items.map((i) => i.key)).toEqual(['12', '11']);
    expect(page.items[0].json).toBe(first);
    expect(page.next).toEqual({ maxId: '11' });
    expect(page.rateLimitedUntil).toBeUndefined();
  });

  it('says when no request is left (X-RateLimit-Remaining 0 until X-RateLimit-Reset)', async () => {
    const reset = new Date(Date.now() + 30_000);
    reply = { headers: { 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': reset.toISOString() } };
    expect((await client.page(request())).rateLimitedUntil).toBe(reset.getTime());
  });

  it('answers 401, 403, 429, 5xx and other statuses with typed errors', async () => {
    reply = { status: 401 };
    expect((await failure()).failure).toBe('unauthorized');
    reply = { status: 403 };
    expect((await failure()).failure).toBe('forbidden');
    reply = { status: 429, headers: { 'Retry-After': '7' } };
    const limited = await failure();
    expect(limited.failure).toBe('rate_limited');
    expect(limited.retryAt).toBeGreaterThan(Date.now() + 5_000);
    reply = { status: 503 };
    expect((await failure()).failure).toBe('server');
    reply = { status: 302, headers: { Location: 'http://elsewhere.example/' } };
    expect((await failure()).failure).toBe('status');
  });

  it('refuses answers that are not a page: not JSON, not UTF-8, no ids, too large', async () => {
    reply = { body: '<html>' };
    expect((await failure()).failure).toBe('invalid');
    reply = { body: Buffer.from([0x5b, 0x22, 0xff, 0x22, 0x5d]) };
    expect((await failure()).failure).toBe('invalid');
    reply = { body: '[{"id":12}]' };
    expect((await failure()).failure).toBe('invalid');
    reply = { body: `["${'x'.repeat(REST_MAX_RESPONSE_BYTES)}"]` };
    expect((await failure()).failure).toBe('too_large');
  });

  it('refuses a private address when the base came from outside, and bad paging', async () => {
    expect((await failure({ guard: true })).failure).toBe('refused_address');
    expect((await failure({ limit: 81 })).failure).toBe('invalid');
    expect((await failure({ maxId: 'a b' })).failure).toBe('invalid');
    expect(seen).toHaveLength(0);
  });

  it('reports a refused connection as a network failure', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect((await failure({ base: `http://127.0.0.1:${port}` })).failure).toBe('network');
  });
});
