import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Agent, buildConnector } from 'undici';
import { literalHostIsPublic } from '@app/security';
import { publicOnlyLookup } from '../address-guard.service';
import { isMastodonId } from './mastodon-id';
import {
  MastodonAnswerError,
  MastodonCollection,
  MastodonItem,
  MAX_PAGE_LIMIT,
  PageParams,
  parseLinkHeader,
  parsePage,
} from './mastodon-page';
import { MastodonRestError, rateLimitedUntil } from './mastodon-rest.error';

export const REST_TIMEOUT_MS = 10_000;
/** 80 notifications with long statuses and media stay well under this. */
export const REST_MAX_RESPONSE_BYTES = 4 * 1_048_576;
const USER_AGENT = 'mastodon-streaming-listener/2 (+catch-up)';

export interface PageRequest extends PageParams {
  /** `replaceUrlWeb` or the instance URL. */
  base: string;
  /** The base came from outside: connect to public addresses only. */
  guard: boolean;
  accessToken: string;
  collection: MastodonCollection;
  /** 1 to 80. */
  limit: number;
}

export interface Page {
  /** Newest first, as Mastodon sends them. */
  items: MastodonItem[];
  next?: PageParams;
  prev?: PageParams;
  /** The server said no request is left before this time (X-RateLimit-Remaining: 0), ms since the epoch. */
  rateLimitedUntil?: number;
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

function errorCode(error: unknown): string | undefined {
  let current = error as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    if (typeof current.code === 'string') return current.code;
    current = current.cause as typeof current;
  }
  return undefined;
}

/** `{base}/api/v1/<collection>?limit=…&max_id=…` — the token goes in a header, never in this URL. */
export function pageUrl(request: Omit<PageRequest, 'accessToken' | 'guard'>): URL {
  const url = new URL(request.base);
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new Error('REST base is not http(s)');
  const prefix = url.pathname.replace(/\/+$/, '');
  url.pathname = `${prefix}/api/v1/${request.collection}`;
  const query = new URLSearchParams({ limit: String(request.limit) });
  if (request.maxId !== undefined) query.set('max_id', request.maxId);
  if (request.sinceId !== undefined) query.set('since_id', request.sinceId);
  if (request.minId !== undefined) query.set('min_id', request.minId);
  url.search = query.toString();
  url.hash = '';
  return url;
}

/**
 * Mastodon's REST API for catch-up: `GET /api/v1/notifications` and
 * `/api/v1/conversations`, one page per call, with the bearer token.
 *
 * Over undici, like callbacks, rather than the axios of instance info: after
 * an instance restart every stream of it asks once, ten thousand requests in
 * a few seconds, and undici cost a quarter of axios' CPU per request where
 * the two were measured (README, Libraries). Keep-alive pools, one deadline
 * per request (connect, headers, body), a size cap, no redirects followed,
 * and every answer validated before anything of it is used.
 */
@Injectable()
export class MastodonRestClient implements OnApplicationShutdown {
  /** For replaceUrlWeb and instances allowed private addresses by the operator. */
  private readonly trusted: Agent;
  /** For instance URLs from outside: names must resolve to public addresses only. */
  private readonly publicOnly: Agent;

  constructor() {
    const pooling = { connections: 16, pipelining: 1, keepAliveTimeout: 4_000 };
    this.trusted = new Agent({ ...pooling, connect: buildConnector({ timeout: REST_TIMEOUT_MS }) });
    this.publicOnly = new Agent({
      ...pooling,
      connect: buildConnector({
        timeout: REST_TIMEOUT_MS,
        lookup: publicOnlyLookup,
      }),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.trusted.destroy(), this.publicOnly.destroy()]);
  }

  /** One page, newest first. Rejects with MastodonRestError only. */
  async page(request: PageRequest): Promise<Page> {
    if (!Number.isInteger(request.limit) || request.limit < 1 || request.limit > MAX_PAGE_LIMIT)
      throw new MastodonRestError('invalid', `limit must be 1 to ${MAX_PAGE_LIMIT}`);
    for (const id of [request.maxId, request.sinceId, request.minId]) {
      if (id !== undefined && !isMastodonId(id))
        throw new MastodonRestError('invalid', 'paging id is not an id');
    }
    let url: URL;
    try {
      url = pageUrl(request);
    } catch (error) {
      throw new MastodonRestError('invalid', (error as Error).message);
    }
    if (request.guard && literalHostIsPublic(url) === false) {
      throw new MastodonRestError(
        'refused_address',
        `${url.host} is a loopback, private or link-local address`,
      );
    }
    const what = `GET /api/v1/${request.collection}`;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REST_TIMEOUT_MS);
    try {
      const response = await (request.guard ? this.publicOnly : this.trusted).request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'GET',
        headers: {
          Authorization: `Bearer ${request.accessToken}`,
          Accept: 'application/json',
          'User-Agent': USER_AGENT,
        },
        signal: controller.signal,
      });
      const status = response.statusCode;
      const headers = response.headers;
      if (status !== 200) {
        await response.body.dump({ limit: 65_536 }).catch(() => undefined);
        throw this.statusError(what, status, headers);
      }
      const text = await this.readCapped(response.body, what);
      const items = parsePage(text, request.collection);
      const link = parseLinkHeader(typeof headers.link === 'string' ? headers.link : undefined);
      const page: Page = { items, ...link };
      const remaining = headers['x-ratelimit-remaining'];
      if (typeof remaining === 'string' && /^0+$/.test(remaining.trim())) {
        page.rateLimitedUntil = rateLimitedUntil(headers, Date.now());
      }
      return page;
    } catch (error) {
      if (error instanceof MastodonRestError) throw error;
      if (error instanceof MastodonAnswerError)
        throw new MastodonRestError('invalid', `${what}: ${error.message}`);
      const code = errorCode(error);
      if (code === 'ERR_MSL_REFUSED_ADDRESS')
        throw new MastodonRestError('refused_address', (error as Error).message);
      if (controller.signal.aborted || (code !== undefined && TIMEOUT_CODES.has(code))) {
        throw new MastodonRestError('timeout', `${what}: no answer within ${REST_TIMEOUT_MS} ms`);
      }
      throw new MastodonRestError(
        'network',
        `${what}: request failed (${code ?? 'network error'})`,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  private statusError(
    what: string,
    status: number,
    headers: Record<string, string | string[] | undefined>,
  ): MastodonRestError {
    const message = `${what} answered HTTP ${status}`;
    if (status === 401) return new MastodonRestError('unauthorized', message, status);
    if (status === 403) return new MastodonRestError('forbidden', message, status);
    if (status === 429)
      return new MastodonRestError(
        'rate_limited',
        message,
        status,
        rateLimitedUntil(headers, Date.now()),
      );
    if (status >= 500)
      return new MastodonRestError(
        'server',
        message,
        status,
        rateLimitedUntil(headers, Date.now()),
      );
    return new MastodonRestError('status', message, status);
  }

  private async readCapped(
    body: AsyncIterable<Buffer> & { destroy(): unknown },
    what: string,
  ): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += chunk.length;
      if (size > REST_MAX_RESPONSE_BYTES) {
        body.destroy();
        throw new MastodonRestError(
          'too_large',
          `${what}: answer larger than ${REST_MAX_RESPONSE_BYTES} bytes`,
        );
      }
      chunks.push(chunk);
    }
    const buffer = Buffer.concat(chunks);
    // a JSON text that is not valid UTF-8 is refused, never altered
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(buffer);
    } catch {
      throw new MastodonRestError('invalid', `${what}: answer is not UTF-8`);
    }
  }
}
