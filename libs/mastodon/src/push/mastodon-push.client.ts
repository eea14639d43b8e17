import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Agent, buildConnector } from 'undici';
import { literalHostIsPublic } from '@app/security';
import { publicOnlyLookup } from '../address-guard.service';
import { isMastodonId } from '../rest/mastodon-id';
import { MastodonRestError, rateLimitedUntil } from '../rest/mastodon-rest.error';
import { REST_MAX_RESPONSE_BYTES, REST_TIMEOUT_MS } from '../rest/mastodon-rest.client';

const USER_AGENT = 'mastodon-streaming-listener/2 (+webpush)';
/** Mastodon's notification types a subscription may ask alerts for (unknown ones are ignored by Mastodon). */
export const PUSH_ALERTS = [
  'mention',
  'status',
  'reblog',
  'follow',
  'follow_request',
  'favourite',
  'poll',
  'update',
  'admin.sign_up',
  'admin.report',
] as const;

/** Where and as whom a call goes: `replaceUrlWeb` or the instance URL, and the user's token. */
export interface PushCallTarget {
  base: string;
  /** The base came from outside: connect to public addresses only. */
  guard: boolean;
  accessToken: string;
}

export interface SubscribeRequest extends PushCallTarget {
  /** `{PUBLIC_URL}/push/<id>` */
  endpoint: string;
  /** base64url */
  p256dh: string;
  auth: string;
  /** RFC 8291 aes128gcm (Mastodon 4.4+); without it the instance sends the older aesgcm. */
  standard: boolean;
  alerts: readonly string[];
}

export interface SubscribeAnswer {
  /** The instance's VAPID public key, as it wrote it. */
  serverKey: string;
}

type Method = 'GET' | 'POST' | 'DELETE';

function errorCode(error: unknown): string | undefined {
  let current = error as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    if (typeof current.code === 'string') return current.code;
    current = current.cause as typeof current;
  }
  return undefined;
}

/** Form body of POST /api/v1/push/subscription, as Mastodon's own web client sends it. */
export function subscribeForm(request: Omit<SubscribeRequest, 'base' | 'guard' | 'accessToken'>): string {
  const form = new URLSearchParams();
  form.set('subscription[endpoint]', request.endpoint);
  form.set('subscription[keys][p256dh]', request.p256dh);
  form.set('subscription[keys][auth]', request.auth);
  if (request.standard) form.set('subscription[standard]', 'true');
  form.set('data[policy]', 'all');
  for (const alert of request.alerts) form.set(`data[alerts][${alert}]`, 'true');
  return form.toString();
}

/**
 * Mastodon's Web Push subscription API (`POST`/`DELETE
 * /api/v1/push/subscription`) and the single-notification read that turns a
 * push into the callback's payload (`GET /api/v1/notifications/<id>`), with
 * the user's token. Built like the catch-up REST client: undici keep-alive
 * pools, one deadline per request, a size cap, no redirects, answers checked
 * before use, errors as MastodonRestError naming no secret.
 */
@Injectable()
export class MastodonPushClient implements OnApplicationShutdown {
  private readonly trusted: Agent;
  private readonly publicOnly: Agent;

  constructor() {
    const pooling = { connections: 16, pipelining: 1, keepAliveTimeout: 4_000 };
    this.trusted = new Agent({ ...pooling, connect: buildConnector({ timeout: REST_TIMEOUT_MS }) });
    this.publicOnly = new Agent({
      ...pooling,
      connect: buildConnector({ timeout: REST_TIMEOUT_MS, lookup: publicOnlyLookup }),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.trusted.destroy(), this.publicOnly.destroy()]);
  }

  /** Creates (or replaces: one per token) the token's subscription; resolves with the instance's server key. */
  async subscribe(request: SubscribeRequest): Promise<SubscribeAnswer> {
    const what = 'POST /api/v1/push/subscription';
    const text = await this.call(request, 'POST', '/api/v1/push/subscription', what, subscribeForm(request));
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      throw new MastodonRestError('invalid', `${what}: answer is not JSON`);
    }
    const serverKey = (answer as { server_key?: unknown } | null)?.server_key;
    if (typeof serverKey !== 'string' || serverKey.length === 0 || serverKey.length > 255)
      throw new MastodonRestError('invalid', `${what}: answer has no server_key`);
    return { serverKey };
  }

  /** Deletes the token's subscription; one that is gone already (404) counts as deleted. */
  async unsubscribe(target: PushCallTarget): Promise<void> {
    const what = 'DELETE /api/v1/push/subscription';
    try {
      await this.call(target, 'DELETE', '/api/v1/push/subscription', what);
    } catch (error) {
      if (error instanceof MastodonRestError && error.status === 404) return;
      throw error;
    }
  }

  /** The notification `id` as JSON text, exactly as the instance sent it (a JSON object with that id). */
  async notification(target: PushCallTarget, id: string): Promise<string> {
    if (!isMastodonId(id) || !/^[0-9A-Za-z_-]+$/.test(id))
      throw new MastodonRestError('invalid', 'notification id is not an id');
    const what = 'GET /api/v1/notifications/<id>';
    const text = await this.call(target, 'GET', `/api/v1/notifications/${id}`, what);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new MastodonRestError('invalid', `${what}: answer is not JSON`);
    }
    const answeredId = (parsed as { id?: unknown } | null)?.id;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || String(answeredId) !== id)
      throw new MastodonRestError('invalid', `${what}: answer is not that notification`);
    return text;
  }

  private async call(target: PushCallTarget, method: Method, path: string, what: string, form?: string): Promise<string> {
    let url: URL;
    try {
      url = new URL(target.base);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('REST base is not http(s)');
    } catch (error) {
      throw new MastodonRestError('invalid', (error as Error).message);
    }
    if (target.guard && literalHostIsPublic(url) === false)
      throw new MastodonRestError('refused_address', `${url.host} is a loopback, private or link-local address`);
    const prefix = url.pathname.replace(/\/+$/, '');
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REST_TIMEOUT_MS);
    try {
      const headers: Record<string, string> = {
        Authorization: `Bearer ${target.accessToken}`,
        Accept: 'application/json',
        'User-Agent': USER_AGENT,
      };
      if (form !== undefined) headers['Content-Type'] = 'application/x-www-form-urlencoded';
      const response = await (target.guard ? this.publicOnly : this.trusted).request({
        origin: url.origin,
        path: `${prefix}${path}`,
        method,
        headers,
        body: form,
        signal: controller.signal,
      });
      const status = response.statusCode;
      if (status !== 200) {
        await response.body.dump({ limit: 65_536 }).catch(() => undefined);
        throw statusError(what, status, response.headers);
      }
      return await readCapped(response.body, what);
    } catch (error) {
      if (error instanceof MastodonRestError) throw error;
      const code = errorCode(error);
      if (code === 'ERR_MSL_REFUSED_ADDRESS') throw new MastodonRestError('refused_address', (error as Error).message);
      if (controller.signal.aborted || code?.includes('TIMEOUT'))
        throw new MastodonRestError('timeout', `${what}: no answer within ${REST_TIMEOUT_MS} ms`);
      throw new MastodonRestError('network', `${what}: request failed (${code ?? 'network error'})`);
    } finally {
      clearTimeout(timer);
    }
  }
}

function statusError(what: string, status: number, headers: Record<string, string | string[] | undefined>): MastodonRestError {
  const message = `${what} answered HTTP ${status}`;
  if (status === 401) return new MastodonRestError('unauthorized', message, status);
  if (status === 403) return new MastodonRestError('forbidden', message, status);
  if (status === 429) return new MastodonRestError('rate_limited', message, status, rateLimitedUntil(headers, Date.now()));
  if (status >= 500) return new MastodonRestError('server', message, status, rateLimitedUntil(headers, Date.now()));
  return new MastodonRestError('status', message, status);
}

async function readCapped(body: AsyncIterable<Buffer> & { destroy(): unknown }, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > REST_MAX_RESPONSE_BYTES) {
      body.destroy();
      throw new MastodonRestError('too_large', `${what}: answer larger than ${REST_MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new MastodonRestError('invalid', `${what}: answer is not UTF-8`);
  }
}
