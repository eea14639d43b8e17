import type * as http from 'node:http';
import { Agent } from 'undici';
import * as webpush from 'web-push';

/** A push subscription as the fake stored it from `POST /api/v1/push/subscription`. */
export interface FakePushSubscription {
  id: number;
  token: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  /** `subscription[standard]` was true. */
  standard: boolean;
  policy: string;
  alerts: Record<string, boolean>;
}

/** One push the fake sent and what the endpoint answered. */
export interface FakePushDelivery {
  token: string;
  notificationId: string;
  encoding: 'aes128gcm' | 'aesgcm';
  endpoint: string;
  status: number;
  /** Date.now() when it was sent. */
  sentAt: number;
}

/** What the fake needs from its instance: who the caller is, and its version. */
export interface PushInstance {
  version(): string;
  /** The token of an accepted bearer, or the status to answer (401 unknown token, 403 missing scope). */
  authorize(req: http.IncomingMessage, scope: string): { token: string } | { status: number };
}

/** RFC 8291 aes128gcm from Mastodon 4.4 when the subscription asks for it; the older aesgcm otherwise. */
function encodingFor(version: string, standard: boolean): 'aes128gcm' | 'aesgcm' {
  const [major, minor] = version.split(/[.+-]/).map((part) => Number(part));
  const modern = major > 4 || (major === 4 && minor >= 4);
  return modern && standard ? 'aes128gcm' : 'aesgcm';
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Mastodon's Web Push side for the fake instance: the subscription API
 * (`POST`, `GET`, `DELETE /api/v1/push/subscription`, one subscription per
 * token, needing the `push` scope) and real encrypted pushes with VAPID, sent
 * with the `web-push` package as Mastodon's own worker sends them: aes128gcm
 * for `standard` subscriptions on 4.4+, aesgcm before. A 404 or 410 answer
 * deletes the subscription, as Mastodon does (any 4xx but 408 and 429).
 */
export class FakeMastodonPush {
  readonly vapid = webpush.generateVAPIDKeys();
  /** By token. */
  readonly subscriptions = new Map<string, FakePushSubscription>();
  /** Every push sent, in order (also in the benchmark: it is how latency is measured on the sending side). */
  readonly deliveries: FakePushDelivery[] = [];
  /** Every DELETE that removed a subscription, with its token. */
  readonly deleted: string[] = [];
  /** When false, the push API answers 404 (an instance without Web Push). */
  enabled = true;
  /** When set, POST /api/v1/push/subscription answers this status. */
  refuseStatus: number | undefined;
  /** When true, notifications are not pushed (an instance whose push worker gave up on them). */
  suspended = false;
  /** Keep every delivery (tests); the benchmark keeps none. */
  record = true;
  /**
   * Sign one VAPID token per endpoint origin and encoding and reuse it for
   * ten minutes (the benchmark: signing costs the sender ~0.2 ms a push); the
   * tests sign each push, as Mastodon does.
   */
  reuseVapidTokens = false;
  private readonly vapidTokens = new Map<string, { headers: Record<string, string>; until: number }>();
  sent = 0;
  private nextId = 1;
  /** Called with each delivery (the benchmark counts them). */
  onDelivery: ((delivery: FakePushDelivery) => void) | undefined;
  /** Kept-alive connections to the push endpoints (fetch costs several times more CPU per push). */
  private readonly agent = new Agent({ connections: 64 });

  constructor(private readonly instance: PushInstance) {}

  /** Serves `/api/v1/push/subscription`. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const answer = (status: number, body: unknown) =>
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
    if (!this.enabled) return void answer(404, { error: 'Record not found' });
    const caller = this.instance.authorize(req, 'push');
    if ('status' in caller)
      return void answer(caller.status, {
        error: caller.status === 403 ? 'This action is outside the authorized scopes' : 'The access token is invalid',
      });
    const token = caller.token;
    if (req.method === 'GET') {
      const current = this.subscriptions.get(token);
      return void (current ? answer(200, this.view(current)) : answer(404, { error: 'Record not found' }));
    }
    if (req.method === 'DELETE') {
      if (this.subscriptions.delete(token)) this.deleted.push(token);
      return void answer(200, {});
    }
    if (req.method !== 'POST') return void answer(404, { error: 'Record not found' });
    void readBody(req).then((text) => {
      if (this.refuseStatus !== undefined) return answer(this.refuseStatus, { error: 'refused' });
      const form = (req.headers['content-type'] ?? '').includes('json')
        ? null
        : new URLSearchParams(text);
      const get = (name: string) => form?.get(name) ?? undefined;
      const endpoint = get('subscription[endpoint]');
      const p256dh = get('subscription[keys][p256dh]');
      const auth = get('subscription[keys][auth]');
      if (!endpoint || !p256dh || !auth) return answer(422, { error: 'Validation failed' });
      const alerts: Record<string, boolean> = {};
      for (const [name, value] of form ?? []) {
        const match = /^data\[alerts\]\[([a-z_.]+)\]$/.exec(name);
        if (match) alerts[match[1]] = value === 'true';
      }
      const subscription: FakePushSubscription = {
        id: this.nextId++,
        token,
        endpoint,
        p256dh,
        auth,
        standard: get('subscription[standard]') === 'true',
        policy: get('data[policy]') ?? 'all',
        alerts,
      };
      // one per token: a new POST replaces it, as on Mastodon
      this.subscriptions.set(token, subscription);
      answer(200, this.view(subscription));
    });
  }

  /** Pushes notification `notificationId` of `token` to its subscription, if it has one; resolves with the answer's status. */
  async deliver(token: string, notificationId: string, type = 'mention'): Promise<number | undefined> {
    const subscription = this.subscriptions.get(token);
    if (!subscription || this.suspended) return undefined;
    const payload = JSON.stringify({
      access_token: token,
      preferred_locale: 'en',
      notification_id: Number(notificationId),
      notification_type: type,
      icon: 'https://fake.test/avatar.png',
      title: 'alice mentioned you',
      body: 'hello',
    });
    return this.send(subscription, payload, notificationId);
  }

  /** Sends `payload` (any text) encrypted for `subscription`, signed with the fake's VAPID key unless `vapid` is given. */
  async send(
    subscription: FakePushSubscription,
    payload: string | Buffer,
    notificationId = '',
    vapid: { publicKey: string; privateKey: string } = this.vapid,
  ): Promise<number> {
    const encoding = encodingFor(this.instance.version(), subscription.standard);
    const reused = this.reuseVapidTokens && vapid === this.vapid ? this.reusedVapidHeaders(subscription.endpoint, encoding) : undefined;
    const details = webpush.generateRequestDetails(
      { endpoint: subscription.endpoint, keys: { p256dh: subscription.p256dh, auth: subscription.auth } },
      payload,
      {
        ...(reused ? {} : { vapidDetails: { subject: 'mailto:admin@fake.test', ...vapid } }),
        contentEncoding: encoding,
        TTL: 60,
      },
    );
    if (reused) {
      details.headers.Authorization = reused.Authorization;
      // aesgcm carries the VAPID key beside the sender's dh in one Crypto-Key header
      if (reused['Crypto-Key']) details.headers['Crypto-Key'] = `${details.headers['Crypto-Key']};${reused['Crypto-Key']}`;
    }
    const sentAt = Date.now();
    let status: number;
    try {
      const url = new URL(details.endpoint);
      const response = await this.agent.request({
        origin: url.origin,
        path: url.pathname,
        method: 'POST',
        headers: details.headers as Record<string, string>,
        body: details.body,
      });
      status = response.statusCode;
      await response.body.dump();
    } catch {
      status = 0;
    }
    this.sent += 1;
    // what Mastodon does with a 4xx other than 408 and 429: the subscription is deleted
    if (status >= 400 && status < 500 && status !== 408 && status !== 429 && this.subscriptions.get(subscription.token) === subscription)
      this.subscriptions.delete(subscription.token);
    const delivery: FakePushDelivery = { token: subscription.token, notificationId, encoding, endpoint: subscription.endpoint, status, sentAt };
    if (this.record) this.deliveries.push(delivery);
    this.onDelivery?.(delivery);
    return status;
  }

  private reusedVapidHeaders(endpoint: string, encoding: 'aes128gcm' | 'aesgcm'): Record<string, string> {
    const audience = new URL(endpoint).origin;
    const key = `${encoding} ${audience}`;
    const now = Date.now();
    let token = this.vapidTokens.get(key);
    if (!token || token.until < now) {
      const headers = webpush.getVapidHeaders(audience, 'mailto:admin@fake.test', this.vapid.publicKey, this.vapid.privateKey, encoding);
      token = { headers: headers as unknown as Record<string, string>, until: now + 600_000 };
      this.vapidTokens.set(key, token);
    }
    return token.headers;
  }

  /** Closes the connections to the push endpoints. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  private view(subscription: FakePushSubscription): Record<string, unknown> {
    return {
      id: subscription.id,
      endpoint: subscription.endpoint,
      standard: subscription.standard,
      alerts: subscription.alerts,
      policy: subscription.policy,
      server_key: this.vapid.publicKey,
    };
  }
}
