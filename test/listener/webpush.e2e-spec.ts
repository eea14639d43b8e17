import { createECDH, randomBytes } from 'node:crypto';
import * as webpush from 'web-push';
import { derivedWebhookId } from '@app/callback';
import { FakePushSubscription } from '../support/fake-mastodon-push';
import { waitFor } from '../support/wait-for';
import { APP_ID, ListenerHarness } from './listener-harness';

const ENCRYPTION_KEY = randomBytes(32).toString('hex');
/** PUSH_MAX_BYTES for this file: small, so that an oversize push is cheap to send. */
const MAX_PUSH_BYTES = 4_096;

function newToken(): string {
  return `tok_${randomBytes(12).toString('hex')}`;
}

interface StatusAnswer {
  state: string;
  transport: string;
  lastError: string | null;
}

describe('listener: the Web Push transport', () => {
  let h: ListenerHarness;

  beforeAll(async () => {
    h = await ListenerHarness.start({
      instances: {
        modern: { version: '4.4.0' },
        legacy: { version: '4.2.0' },
        nopush: { version: '4.3.0' },
        streamy: { version: '4.3.0' },
      },
      entries: { streamy: { transport: 'webpush' } },
      publicUrl: true,
      env: { TOKEN_ENCRYPTION_KEY: ENCRYPTION_KEY, PUSH_MAX_BYTES: String(MAX_PUSH_BYTES) },
    });
    h.fake('nopush').push.enabled = false;
  });

  afterAll(async () => {
    await h?.stop();
  });

  const publicUrl = () => `http://127.0.0.1:${h.apiPort}`;

  async function status(instance: string, tag: string): Promise<StatusAnswer> {
    const response = await h.status(instance, tag);
    expect(response.status).toBe(200);
    return (await response.json()) as StatusAnswer;
  }

  /** Registers `tag` for Web Push and waits until the instance holds its subscription. */
  async function subscribed(instance: string, tag: string, token: string): Promise<FakePushSubscription> {
    h.fake(instance).addToken(token);
    await h.registered({ instance, tag, token, transport: 'webpush' });
    const subscription = await waitFor(() => h.fake(instance).push.subscriptions.get(token), {
      what: `a push subscription for ${tag}`,
    });
    await waitFor(async () => (await status(instance, tag)).state === 'subscribed', { what: `${tag} subscribed` });
    return subscription;
  }

  /** A push as the instance would send it for `subscription`, signed with the instance's VAPID key unless told otherwise. */
  function pushRequest(
    subscription: FakePushSubscription,
    payload: string,
    options: { vapid?: webpush.VapidKeys; encoding?: 'aes128gcm' | 'aesgcm'; p256dh?: string } = {},
  ): { headers: Record<string, string>; body: Buffer } {
    const details = webpush.generateRequestDetails(
      { endpoint: subscription.endpoint, keys: { p256dh: options.p256dh ?? subscription.p256dh, auth: subscription.auth } },
      payload,
      {
        vapidDetails: { subject: 'mailto:admin@fake.test', ...(options.vapid ?? h.fake('modern').push.vapid) },
        contentEncoding: options.encoding ?? 'aes128gcm',
      },
    );
    return { headers: details.headers, body: details.body };
  }

  async function post(url: string, request: { headers: Record<string, string>; body: Buffer }): Promise<number> {
    // web-push names the length of the body it made; fetch sets the length of the body sent
    const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => name.toLowerCase() !== 'content-length'));
    const response = await fetch(url, { method: 'POST', headers, body: request.body });
    await response.arrayBuffer();
    return response.status;
  }

  it('subscribes with the token, its own keys and an unguessable endpoint, holds no socket, and relays a pushed notification in full (aes128gcm on 4.4)', async () => {
    const token = newToken();
    const subscription = await subscribed('modern', 'wp-modern', token);
    expect(subscription.endpoint).toMatch(new RegExp(`^${publicUrl()}/push/[A-Za-z0-9_-]{43}$`));
    expect(subscription.standard).toBe(true);
    expect(subscription.policy).toBe('all');
    expect(subscription.alerts).toMatchObject({ mention: true, follow: true, favourite: true, reblog: true });
    expect(Buffer.from(subscription.p256dh, 'base64url')).toHaveLength(65);
    expect(Buffer.from(subscription.auth, 'base64url')).toHaveLength(16);
    expect(await status('modern', 'wp-modern')).toMatchObject({ state: 'subscribed', transport: 'webpush' });

    const stored = h.fake('modern').notify(token, { status: { content: '<p>ゆーざー \\"hi\\"</p>' } });
    const [delivered] = await h.receiver.waitForDelivered(1, '/cb/wp-modern');
    expect(delivered.json).toEqual({
      instanceUrl: h.instanceUrl('modern'),
      tag: 'wp-modern',
      appId: APP_ID,
      event: 'notification',
      payload: stored.json,
    });
    // the same webhook-id as the stream and the catch-up give this notification
    expect(delivered.headers['webhook-id']).toBe(
      derivedWebhookId({ instanceUrl: h.instanceUrl('modern'), appId: APP_ID, tag: 'wp-modern' }, 'notification', stored.key),
    );
    const push = h.fake('modern').push.deliveries.find((d) => d.token === token);
    expect(push).toMatchObject({ encoding: 'aes128gcm', status: 201 });
    expect(h.fake('modern').connections.filter((c) => c.token === token)).toEqual([]);
  });

  it('relays the legacy aesgcm pushes of instances before 4.4', async () => {
    const token = newToken();
    const subscription = await subscribed('legacy', 'wp-legacy', token);
    expect(subscription.standard).toBe(false);
    const stored = h.fake('legacy').notify(token);
    const [delivered] = await h.receiver.waitForDelivered(1, '/cb/wp-legacy');
    expect((delivered.json as { payload: string }).payload).toBe(stored.json);
    expect(h.fake('legacy').push.deliveries.find((d) => d.token === token)).toMatchObject({
      encoding: 'aesgcm',
      status: 201,
    });
    expect(h.fake('legacy').connections.filter((c) => c.token === token)).toEqual([]);
  });

  it('uses the transport of the instance_map entry when the registration names none', async () => {
    const token = newToken();
    h.fake('streamy').addToken(token);
    await h.registered({ instance: 'streamy', tag: 'wp-by-config', token });
    await waitFor(() => h.fake('streamy').push.subscriptions.get(token), { what: 'a subscription from the instance entry' });
    expect(h.fake('streamy').connections.filter((c) => c.token === token)).toEqual([]);
  });

  it('falls back to the stream when the token has no push scope, and says so in /status', async () => {
    const token = newToken();
    h.fake('modern').addToken(token, ['read']);
    await h.registered({ instance: 'modern', tag: 'wp-noscope', token, transport: 'webpush' });
    await h.fake('modern').waitForConnection((c) => c.token === token && !c.closed);
    await waitFor(async () => (await status('modern', 'wp-noscope')).state === 'streaming', { what: 'streaming' });
    const answer = await status('modern', 'wp-noscope');
    expect(answer.transport).toBe('stream');
    expect(answer.lastError).toContain('refused the push subscription');
    expect(h.fake('modern').push.subscriptions.get(token)).toBeUndefined();
    const stored = h.fake('modern').notify(token);
    const [delivered] = await h.receiver.waitForDelivered(1, '/cb/wp-noscope');
    expect((delivered.json as { payload: string }).payload).toBe(stored.json);
  });

  it('falls back to the stream when the instance has no push API', async () => {
    const token = newToken();
    h.fake('nopush').addToken(token);
    await h.registered({ instance: 'nopush', tag: 'wp-nopush', token, transport: 'webpush' });
    await h.fake('nopush').waitForConnection((c) => c.token === token && !c.closed);
    await waitFor(async () => (await status('nopush', 'wp-nopush')).transport === 'stream' && (await status('nopush', 'wp-nopush')).state === 'streaming', {
      what: 'fallen back',
    });
    expect((await status('nopush', 'wp-nopush')).lastError).toContain('HTTP 404');
  });

  it('refuses garbage, wrong keys, a wrong VAPID key, an unknown id and an oversize push, relays nothing of them, and keeps working', async () => {
    const token = newToken();
    const subscription = await subscribed('modern', 'wp-hostile', token);
    const stored = h.fake('modern').notify(token);
    await h.receiver.waitForDelivered(1, '/cb/wp-hostile');
    const valid = pushRequest(subscription, JSON.stringify({ notification_id: Number(stored.key), access_token: token }));

    const garbage = { headers: { ...valid.headers }, body: randomBytes(200) };
    expect(await post(subscription.endpoint, garbage)).toBe(400);

    const stranger = createECDH('prime256v1');
    stranger.generateKeys();
    const wrongKeys = pushRequest(subscription, JSON.stringify({ notification_id: 1 }), {
      p256dh: stranger.getPublicKey().toString('base64url'),
    });
    expect(await post(subscription.endpoint, wrongKeys)).toBe(400);

    const forged = pushRequest(subscription, JSON.stringify({ notification_id: Number(stored.key) }), {
      vapid: webpush.generateVAPIDKeys(),
    });
    expect(await post(subscription.endpoint, forged)).toBe(403);

    const noVapid = { headers: { ...valid.headers }, body: valid.body };
    delete noVapid.headers.Authorization;
    expect(await post(subscription.endpoint, noVapid)).toBe(403);

    const notJson = pushRequest(subscription, 'not json at all');
    expect(await post(subscription.endpoint, notJson)).toBe(400);

    expect(await post(`${publicUrl()}/push/${'A'.repeat(43)}`, valid)).toBe(404);
    expect(await post(`${publicUrl()}/push/..%2F..%2Fregister`, valid)).toBe(404);

    // answered 413 before the body is read; the client may see the connection closed first
    const oversize = { headers: valid.headers, body: randomBytes(MAX_PUSH_BYTES + 1) };
    expect([413, 'closed']).toContain(await post(subscription.endpoint, oversize).catch(() => 'closed'));

    // still subscribed, and the next real push is relayed; none of the refused ones was
    const next = h.fake('modern').notify(token);
    const delivered = await h.receiver.waitForDelivered(2, '/cb/wp-hostile');
    expect(delivered.map((d) => (d.json as { payload: string }).payload)).toEqual([stored.json, next.json]);
    expect(await status('modern', 'wp-hostile')).toMatchObject({ state: 'subscribed', transport: 'webpush' });
  });

  it('answers a replayed push 201 and relays its notification once', async () => {
    const token = newToken();
    const subscription = await subscribed('modern', 'wp-replay', token);
    const key = '990001';
    const json = JSON.stringify({ id: key, type: 'mention', created_at: new Date().toISOString() });
    h.fake('modern').storeNotification(token, key, json);
    const push = pushRequest(subscription, JSON.stringify({ notification_id: Number(key), access_token: token }));
    expect(await post(subscription.endpoint, push)).toBe(201);
    await h.receiver.waitForDelivered(1, '/cb/wp-replay');
    expect(await post(subscription.endpoint, push)).toBe(201);
    // a later notification arrives after the replay would have: only it is new
    const next = h.fake('modern').notify(token);
    const delivered = await h.receiver.waitForDelivered(2, '/cb/wp-replay');
    expect(delivered.map((d) => (d.json as { payload: string }).payload)).toEqual([json, next.json]);
  });

  it('replaces the subscription when the token changes; the old endpoint answers 404, so the instance drops it', async () => {
    const first = newToken();
    const old = await subscribed('modern', 'wp-newtoken', first);
    const second = newToken();
    h.fake('modern').addToken(second);
    await h.registered({ instance: 'modern', tag: 'wp-newtoken', token: second, transport: 'webpush' });
    const replaced = await waitFor(() => h.fake('modern').push.subscriptions.get(second), { what: 'the new subscription' });
    expect(replaced.endpoint).not.toBe(old.endpoint);
    expect(await h.fake('modern').push.send(old, JSON.stringify({ notification_id: 1 }))).toBe(404);
    expect(h.fake('modern').push.subscriptions.get(first)).toBeUndefined();
    const stored = h.fake('modern').notify(second);
    const [delivered] = await h.receiver.waitForDelivered(1, '/cb/wp-newtoken');
    expect((delivered.json as { payload: string }).payload).toBe(stored.json);
  });

  it('deletes the subscription at the instance on /unregister; its endpoint then answers 410 or 404', async () => {
    const token = newToken();
    const subscription = await subscribed('modern', 'wp-unregister', token);
    expect((await h.unregister('modern', 'wp-unregister')).status).toBe(202);
    await waitFor(() => h.fake('modern').push.deleted.includes(token), { what: 'DELETE /api/v1/push/subscription' });
    expect(h.fake('modern').push.subscriptions.get(token)).toBeUndefined();
    const status = await post(subscription.endpoint, pushRequest(subscription, JSON.stringify({ notification_id: 5 })));
    expect([404, 410]).toContain(status);
  });

  it('deletes the subscription a registration left when it switched to the stream while no listener held it', async () => {
    const token = newToken();
    await subscribed('modern', 'wp-switched', token);
    const row = await h.row('modern', 'wp-switched');
    await h.restartListener('SIGTERM', false);
    await h.registered({ instance: 'modern', tag: 'wp-switched', token, transport: 'stream' });
    await h.startListener();
    await h.fake('modern').waitForConnection((c) => c.token === token);
    await waitFor(() => h.fake('modern').push.deleted.includes(token), { what: 'DELETE /api/v1/push/subscription' });
    expect(h.fake('modern').push.subscriptions.get(token)).toBeUndefined();
    await waitFor(
      async () =>
        (
          await h.db.dataSource.query<unknown[]>(
            h.sql('SELECT "registrationId" FROM stream_listener_push_subscriptions WHERE "registrationId" = ?'),
            [row!.id],
          )
        ).length === 0,
      { what: 'the stored subscription deleted' },
    );
    expect((await status('modern', 'wp-switched')).transport).toBe('stream');
  });

  it('keeps the private key and the auth secret sealed at rest, and no token or key in any log', async () => {
    const token = newToken();
    const subscription = await subscribed('modern', 'wp-secrets', token);
    h.fake('modern').notify(token);
    await h.receiver.waitForDelivered(1, '/cb/wp-secrets');
    const row = await h.row('modern', 'wp-secrets');
    const [stored]: { privateKey: string; authSecret: string; publicKey: string }[] = await h.db.dataSource.query(
      h.sql('SELECT "privateKey", "authSecret", "publicKey" FROM stream_listener_push_subscriptions WHERE "registrationId" = ?'),
      [row!.id],
    );
    expect(stored.privateKey).toMatch(/^enc:v1:/);
    expect(stored.authSecret).toMatch(/^enc:v1:/);
    expect(stored.publicKey).toBe(subscription.p256dh);
    const logs = h.api.logs + h.listener.logs;
    for (const secret of [token, subscription.auth, h.fake('modern').push.vapid.privateKey]) expect(logs).not.toContain(secret);
    expect(logs).not.toContain(subscription.endpoint.slice(subscription.endpoint.lastIndexOf('/') + 1));
  });
});

describe('listener: Web Push registrations swept from the cursor', () => {
  let h: ListenerHarness;

  beforeAll(async () => {
    h = await ListenerHarness.start({
      instances: { modern: { version: '4.4.0' } },
      publicUrl: true,
      env: { PUSH_SWEEP_INTERVAL_MS: '1000' },
    });
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('relays a notification the instance never pushed, with the webhook-id the push would have had', async () => {
    const token = newToken();
    h.fake('modern').addToken(token);
    await h.registered({ instance: 'modern', tag: 'swept', token, transport: 'webpush' });
    await waitFor(() => h.fake('modern').push.subscriptions.get(token), { what: 'a subscription' });
    // the sweep's first visit takes the floor: what comes after it is owed
    await waitFor(async () => (await h.cursor('modern', 'swept')) !== null, { what: 'a cursor' });
    h.fake('modern').push.suspended = true;
    const stored = h.fake('modern').notify(token);
    const [delivered] = await h.receiver.waitForDelivered(1, '/cb/swept');
    expect((delivered.json as { payload: string }).payload).toBe(stored.json);
    expect(delivered.headers['webhook-id']).toBe(
      derivedWebhookId({ instanceUrl: h.instanceUrl('modern'), appId: APP_ID, tag: 'swept' }, 'notification', stored.key),
    );
    expect(h.fake('modern').push.deliveries).toEqual([]);
    expect(h.fake('modern').connections).toEqual([]);
  });
});
