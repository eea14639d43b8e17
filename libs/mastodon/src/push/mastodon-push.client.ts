import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { isMastodonId } from '../rest/mastodon-id';
import { MastodonRestError } from '../rest/mastodon-rest.error';
import { RestAgents, restUrl } from '../rest/rest-call';

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
  private readonly agents = new RestAgents();

  async onApplicationShutdown(): Promise<void> {
    await this.agents.destroy();
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
    const answer = await this.agents.call({
      url: restUrl(target.base, path),
      guard: target.guard,
      method,
      accessToken: target.accessToken,
      userAgent: USER_AGENT,
      form,
      what,
    });
    return answer.text;
  }
}
