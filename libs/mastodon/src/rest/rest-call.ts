import { Agent, buildConnector } from 'undici';
import { literalHostIsPublic } from '@app/security';
import { publicOnlyLookup } from '../address-guard.service';
import { MastodonRestError, rateLimitedUntil } from './mastodon-rest.error';

export const REST_TIMEOUT_MS = 10_000;
/** 80 notifications with long statuses and media stay well under this. */
export const REST_MAX_RESPONSE_BYTES = 4 * 1_048_576;

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/** One call to a Mastodon REST endpoint with a user's token. */
export interface RestCall {
  url: URL;
  /** The URL came from outside: connect to public addresses only. */
  guard: boolean;
  method: 'GET' | 'POST' | 'DELETE';
  accessToken: string;
  userAgent: string;
  /** A form body (`application/x-www-form-urlencoded`). */
  form?: string;
  /** How the call is named in errors, e.g. `GET /api/v1/notifications` (never with a secret). */
  what: string;
}

export interface RestAnswer {
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * The undici pools every REST call goes through: keep-alive, a connect
 * deadline, and for URLs from outside a lookup that refuses private addresses.
 */
export class RestAgents {
  /** For replaceUrlWeb and instances allowed private addresses by the operator. */
  private readonly trusted: Agent;
  /** For instance URLs from outside: names must resolve to public addresses only. */
  private readonly publicOnly: Agent;

  constructor() {
    const pooling = { connections: 16, pipelining: 1, keepAliveTimeout: 4_000 };
    this.trusted = new Agent({ ...pooling, connect: buildConnector({ timeout: REST_TIMEOUT_MS }) });
    this.publicOnly = new Agent({
      ...pooling,
      connect: buildConnector({ timeout: REST_TIMEOUT_MS, lookup: publicOnlyLookup }),
    });
  }

  destroy(): Promise<unknown> {
    return Promise.all([this.trusted.destroy(), this.publicOnly.destroy()]);
  }

  /**
   * Makes the call: one deadline for connecting, the headers and the body, a
   * size cap, no redirects followed; a 200 answer's body as UTF-8 text.
   * Rejects with MastodonRestError only, naming no secret.
   */
  async call(call: RestCall): Promise<RestAnswer> {
    const { url, what } = call;
    if (call.guard && literalHostIsPublic(url) === false) {
      throw new MastodonRestError(
        'refused_address',
        `${url.host} is a loopback, private or link-local address`,
      );
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REST_TIMEOUT_MS);
    try {
      const headers: Record<string, string> = {
        Authorization: `Bearer ${call.accessToken}`,
        Accept: 'application/json',
        'User-Agent': call.userAgent,
      };
      if (call.form !== undefined) headers['Content-Type'] = 'application/x-www-form-urlencoded';
      const response = await (call.guard ? this.publicOnly : this.trusted).request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: call.method,
        headers,
        body: call.form,
        signal: controller.signal,
      });
      const status = response.statusCode;
      if (status !== 200) {
        await response.body.dump({ limit: 65_536 }).catch(() => undefined);
        throw statusError(what, status, response.headers);
      }
      return { text: await readCapped(response.body, what), headers: response.headers };
    } catch (error) {
      if (error instanceof MastodonRestError) throw error;
      const code = errorCode(error);
      if (code === 'ERR_MSL_REFUSED_ADDRESS')
        throw new MastodonRestError('refused_address', (error as Error).message);
      if (controller.signal.aborted || (code !== undefined && TIMEOUT_CODES.has(code)))
        throw new MastodonRestError('timeout', `${what}: no answer within ${REST_TIMEOUT_MS} ms`);
      throw new MastodonRestError('network', `${what}: request failed (${code ?? 'network error'})`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A REST base (`replaceUrlWeb` or the instance URL) with `path` under its own path. */
export function restUrl(base: string, path: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch (error) {
    throw new MastodonRestError('invalid', (error as Error).message);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new MastodonRestError('invalid', 'REST base is not http(s)');
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  url.search = '';
  url.hash = '';
  return url;
}

function statusError(
  what: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
): MastodonRestError {
  const message = `${what} answered HTTP ${status}`;
  if (status === 401) return new MastodonRestError('unauthorized', message, status);
  if (status === 403) return new MastodonRestError('forbidden', message, status);
  if (status === 429)
    return new MastodonRestError('rate_limited', message, status, rateLimitedUntil(headers, Date.now()));
  if (status >= 500)
    return new MastodonRestError('server', message, status, rateLimitedUntil(headers, Date.now()));
  return new MastodonRestError('status', message, status);
}

async function readCapped(
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
  // a JSON text that is not valid UTF-8 is refused, never altered
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new MastodonRestError('invalid', `${what}: answer is not UTF-8`);
  }
}

function errorCode(error: unknown): string | undefined {
  let current = error as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    if (typeof current.code === 'string') return current.code;
    current = current.cause as typeof current;
  }
  return undefined;
}
