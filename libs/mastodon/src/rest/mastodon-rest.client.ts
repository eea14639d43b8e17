import { Injectable, OnApplicationShutdown } from '@nestjs/common';
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
import { RestAgents, restUrl } from './rest-call';

export { REST_MAX_RESPONSE_BYTES, REST_TIMEOUT_MS } from './rest-call';
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

export function pageUrl(request: Omit<PageRequest, 'accessToken' | 'guard'>): URL {
  const url = restUrl(request.base, `/api/v1/${request.collection}`);
  const query = new URLSearchParams({ limit: String(request.limit) });
  if (request.maxId !== undefined) query.set('max_id', request.maxId);
  if (request.sinceId !== undefined) query.set('since_id', request.sinceId);
  if (request.minId !== undefined) query.set('min_id', request.minId);
  url.search = query.toString();
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
  private readonly agents = new RestAgents();

  async onApplicationShutdown(): Promise<void> {
    await this.agents.destroy();
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
    const what = `GET /api/v1/${request.collection}`;
    const { text, headers } = await this.agents.call({
      url,
      guard: request.guard,
      method: 'GET',
      accessToken: request.accessToken,
      userAgent: USER_AGENT,
      what,
    });
    let items: MastodonItem[];
    try {
      items = parsePage(text, request.collection);
    } catch (error) {
      if (error instanceof MastodonAnswerError)
        throw new MastodonRestError('invalid', `${what}: ${error.message}`);
      throw error;
    }
    const link = parseLinkHeader(typeof headers.link === 'string' ? headers.link : undefined);
    const page: Page = { items, ...link };
    const remaining = headers['x-ratelimit-remaining'];
    if (typeof remaining === 'string' && /^0+$/.test(remaining.trim())) {
      page.rateLimitedUntil = rateLimitedUntil(headers, Date.now());
    }
    return page;
  }
}
