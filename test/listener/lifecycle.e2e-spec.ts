import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { waitFor } from '../support/wait-for';
import { APP_ID, APP_SECRET, ListenerHarness } from './listener-harness';

const OPTED_APP = 'jp.example.lifecycle';
const OPTED_SECRET = 'lifecycle-secret-9d1e';
const MERGED_APP = 'jp.example.merged';
const MERGED_SECRET = 'merged-secret-4b7a';

function newToken(): string {
  return `tok_${randomBytes(12).toString('hex')}`;
}

interface StatusBody {
  state: string;
  since: string;
  endpoint: string | null;
  transport: string;
  expiresAt: string;
  lastRelayedAt: string | null;
  lastError: string | null;
  removalReason: string | null;
}

describe('listener: registration lifecycle', () => {
  let h: ListenerHarness;
  /** Every /status answer body, to check that none carries a token. */
  const statusBodies: string[] = [];
  const tokens: string[] = [];

  function token(): string {
    const made = newToken();
    tokens.push(made);
    return made;
  }

  beforeAll(async () => {
    h = await ListenerHarness.start({
      instances: {
        life: { version: '4.3.0' },
        gated: { version: '4.3.0' },
        refusing: { version: '4.3.0' },
        forbidding: { version: '4.3.0' },
        events: { version: '4.3.0' },
      },
      entries: { gated: { maxConnections: 1 } },
      apps: {
        [OPTED_APP]: { secret: OPTED_SECRET, lifecycleEvents: true },
        [MERGED_APP]: { secret: MERGED_SECRET, events: ['notification', 'notifications_merged'] },
      },
    });
  });

  afterAll(async () => {
    for (const body of statusBodies)
      for (const secret of tokens)
        expect({ body, leaked: body.includes(secret) }).toEqual({ body, leaked: false });
    await h?.stop();
  });

  async function status(
    instance: string,
    tag: string,
    app: { appId?: string; appSecret?: string } = {},
  ): Promise<StatusBody> {
    const response = await h.status(instance, tag, app);
    const text = await response.text();
    statusBodies.push(text);
    expect({ status: response.status, text }).toEqual({ status: 200, text });
    return JSON.parse(text) as StatusBody;
  }

  async function waitForState(instance: string, tag: string, state: string): Promise<StatusBody> {
    let last: StatusBody | undefined;
    await waitFor(
      async () => {
        last = await status(instance, tag);
        return last.state === state;
      },
      { what: `/status of ${tag} to say ${state}` },
    );
    return last!;
  }

  async function removedCount(reason: string): Promise<number> {
    return h.metric('msl_registrations_removed_total', { reason });
  }

  /** The count follows the row's removal by a moment (it is written first): wait for it. */
  async function removedCountReaches(reason: string, count: number): Promise<void> {
    await waitFor(async () => (await removedCount(reason)) === count, {
      what: `msl_registrations_removed_total{reason="${reason}"} to reach ${count}`,
    });
    expect(await removedCount(reason)).toBe(count);
  }

  it('/status follows a registration: connecting, streaming, retrying, streaming, removed', async () => {
    // the instance holds one stream at a time: the second registration waits, connecting
    const occupant = token();
    const mine = token();
    h.fake('gated').addToken(occupant);
    h.fake('gated').addToken(mine);
    await h.registered({ instance: 'gated', tag: 'occupant', token: occupant });
    await h.fake('gated').waitForConnection((c) => c.token === occupant);
    await h.registered({ instance: 'gated', tag: 'mine', token: mine });
    await waitFor(async () => (await h.lifecycle('gated', 'mine'))?.state === 'connecting', {
      what: 'the listener to record the waiting stream as connecting',
    });
    const connecting = await status('gated', 'mine');
    expect(connecting).toMatchObject({
      state: 'connecting',
      transport: 'stream',
      lastRelayedAt: null,
      lastError: null,
      removalReason: null,
    });
    const expiresIn = Date.parse(connecting.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(71 * 3_600_000);
    expect(expiresIn).toBeLessThanOrEqual(72 * 3_600_000);

    expect((await h.unregister('gated', 'occupant')).status).toBe(202);
    await h.fake('gated').waitForConnection((c) => c.token === mine);
    const streaming = await waitForState('gated', 'mine', 'streaming');
    // the endpoint the listener chose: Mastodon 4.3 has user:notification
    expect(streaming.endpoint).toBe('user:notification');
    expect(Date.parse(streaming.since)).toBeGreaterThanOrEqual(Date.parse(connecting.since));
    expect(streaming.lastRelayedAt).toBeNull();

    h.fake('gated').emit(mine, { event: 'notification', payload: JSON.stringify({ id: '77' }) });
    await h.receiver.waitForDelivered(1, '/cb/mine');
    await waitFor(async () => (await status('gated', 'mine')).lastRelayedAt !== null, {
      what: 'lastRelayedAt to be recorded',
    });

    h.fake('gated').refuseUpgrades(503);
    h.fake('gated').dropAll();
    const retrying = await waitForState('gated', 'mine', 'retrying');
    expect(retrying.lastError).toMatch(/stream (closed with code 1006|failed to open)/);
    h.fake('gated').refuseUpgrades(undefined);
    const back = await waitForState('gated', 'mine', 'streaming');
    // the last error stays visible after the stream recovered
    expect(back.lastError).not.toBeNull();

    // a revoked token: Mastodon closes the socket without a code, then refuses the upgrade
    const before = await removedCount('revoked');
    h.fake('gated').revokeToken(mine);
    h.fake('gated').closeWithoutCode(mine);
    const removed = await waitForState('gated', 'mine', 'removed');
    expect(removed).toMatchObject({
      removalReason: 'revoked',
      lastError: 'the stream closed without a code, then the upgrade answered HTTP 401',
    });
    await removedCountReaches('revoked', before + 1);
    // one revocation, one line, at info; no warning about the close that preceded it
    await h.waitForListenerLog('gated.test jp.example.relaytest mine removed (revoked)');
    const lines = h.listener.logs
      .split('\n')
      .filter((line) => line.includes('gated.test jp.example.relaytest mine'))
      .map((line) => JSON.parse(line) as { level: number; msg: string });
    const removals = lines.filter((line) => line.msg.includes('removed (revoked)'));
    expect(removals.map((line) => line.level)).toEqual([30]);
    expect(lines.filter((line) => line.msg.includes('code 1005') && line.level >= 40)).toEqual([]);
    expect(h.fake('gated').openConnections(mine)).toHaveLength(0);
  });

  it('/status answers 404 for no such registration and 401/403 exactly as /unregister, form-encoded too', async () => {
    expect((await h.status('life', 'nobody')).status).toBe(404);
    for (const [app, expected] of [
      [{ appSecret: `${APP_SECRET}-wrong` }, 401],
      [{ appId: 'jp.example.unknown' }, 403],
    ] as const) {
      const answer = await h.status('life', 'nobody', app);
      const unregister = await h.unregister('life', 'nobody', app);
      expect([answer.status, unregister.status]).toEqual([expected, expected]);
      const body = await answer.text();
      expect(body).not.toContain(APP_SECRET);
      expect(JSON.parse(body)).toMatchObject({ statusCode: expected });
    }
    const mine = token();
    h.fake('life').addToken(mine);
    await h.registered({ instance: 'life', tag: 'form', token: mine, endpoint: 'direct' });
    const form = await fetch(`http://127.0.0.1:${h.apiPort}/status`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        instance_url: h.instanceUrl('life'),
        tag: 'form',
        app_id: APP_ID,
        app_secret: APP_SECRET,
      }).toString(),
    });
    expect(form.status).toBe(200);
    const body = (await form.json()) as StatusBody;
    expect(body.endpoint).toBe('direct');
    expect(Object.keys(body).sort()).toEqual(
      [
        'endpoint',
        'expiresAt',
        'lastError',
        'lastRelayedAt',
        'removalReason',
        'since',
        'state',
        'transport',
      ].sort(),
    );
  });

  it('a 401 on the upgrade ends the registration as revoked, a 403 for its scope', async () => {
    const [revoked, scope] = [await removedCount('revoked'), await removedCount('scope')];
    await h.registered({ instance: 'refusing', tag: 'never-valid', token: token() });
    await h.waitForRemoval('refusing', 'never-valid', 'revoked');
    expect((await status('refusing', 'never-valid')).lastError).toBe(
      'the upgrade answered HTTP 401',
    );

    h.fake('forbidding').refuseUpgrades(403);
    const forbidden = token();
    h.fake('forbidding').addToken(forbidden);
    await h.registered({ instance: 'forbidding', tag: 'forbidden', token: forbidden });
    await h.waitForRemoval('forbidding', 'forbidden', 'scope');
    await removedCountReaches('revoked', revoked + 1);
    await removedCountReaches('scope', scope + 1);
  });

  it('an error frame refusing the token ends the registration: for its scope, or as revoked', async () => {
    const scope = await removedCount('scope');
    const revoked = await removedCount('revoked');
    // a token that may read statuses but not notifications, on the notification stream
    const limited = token();
    h.fake('refusing').addToken(limited, ['read:statuses']);
    await h.registered({
      instance: 'refusing',
      tag: 'no-scope',
      token: limited,
      endpoint: 'user:notification',
    });
    await h.waitForRemoval('refusing', 'no-scope', 'scope');
    // the stream's error frame and the REST floor call's 403 race: either ends it for its scope
    expect([
      'an error frame said 401: Access token does not have the required scopes',
      'GET /api/v1/notifications answered HTTP 403',
    ]).toContain((await status('refusing', 'no-scope')).lastError);
    await waitFor(() => h.fake('refusing').openConnections(limited).length === 0, {
      what: 'the listener to close the refused stream',
    });

    const valid = token();
    h.fake('refusing').addToken(valid);
    await h.registered({ instance: 'refusing', tag: 'frame-revoked', token: valid });
    await h.fake('refusing').waitForConnection((c) => c.token === valid);
    // an error frame that is not about the token is skipped: the stream keeps relaying
    h.fake('refusing').sendErrorFrame(valid, 500, 'Error in streaming');
    h.fake('refusing').emit(valid, { event: 'notification', payload: JSON.stringify({ id: '1' }) });
    await h.receiver.waitForDelivered(1, '/cb/frame-revoked');
    h.fake('refusing').sendErrorFrame(valid, 401, 'Invalid access token');
    await h.waitForRemoval('refusing', 'frame-revoked', 'revoked');
    await removedCountReaches('scope', scope + 1);
    await removedCountReaches('revoked', revoked + 1);
    const errorFrames = await h.metric('msl_events_received_total', { event: 'error' });
    // the 500 and 401 frames of the valid token, and the scope frame unless the REST 403 ended that stream first
    expect({ errorFrames, metrics: errorFrames >= 2 ? '' : await h.metricsText() }).toEqual({
      errorFrames: expect.any(Number) as number,
      metrics: '',
    });
    expect(errorFrames).toBeGreaterThanOrEqual(2);
    expect(errorFrames).toBeLessThanOrEqual(3);
  });

  it('a token that may read statuses but not notifications gets no frame: the REST floor call ends it for its scope', async () => {
    const scope = await removedCount('scope');
    const statusesOnly = token();
    h.fake('refusing').addToken(statusesOnly, ['read:statuses']);
    // the user stream needs read:statuses only: Mastodon opens it and says nothing
    await h.registered({
      instance: 'refusing',
      tag: 'statuses-only',
      token: statusesOnly,
      endpoint: 'user',
    });
    await h.waitForRemoval('refusing', 'statuses-only', 'scope');
    expect((await status('refusing', 'statuses-only')).lastError).toBe(
      'GET /api/v1/notifications answered HTTP 403',
    );
    await removedCountReaches('scope', scope + 1);
    await waitFor(() => h.fake('refusing').openConnections(statusesOnly).length === 0, {
      what: 'the listener to close its stream',
    });

    // and a token the REST API no longer takes is revoked, whatever the stream said
    const revoked = await removedCount('revoked');
    const restRevoked = token();
    h.fake('refusing').addToken(restRevoked);
    h.fake('refusing').refuseRest(401, 1);
    await h.registered({ instance: 'refusing', tag: 'rest-revoked', token: restRevoked });
    await h.waitForRemoval('refusing', 'rest-revoked', 'revoked');
    await removedCountReaches('revoked', revoked + 1);
  });

  it('a callback answering 410 ends the registration as gone, without a removal event to it', async () => {
    const gone = await removedCount('gone');
    const mine = token();
    h.fake('life').addToken(mine);
    h.receiver.script('/cb/gone', [], { status: 410 });
    // an app that opted in to lifecycle events: the receiver said it dropped this user all the same
    await h.registered({
      instance: 'life',
      tag: 'gone',
      token: mine,
      appId: OPTED_APP,
      appSecret: OPTED_SECRET,
      callbackPath: '/cb/gone',
    });
    await h.fake('life').waitForConnection((c) => c.token === mine);
    h.fake('life').emit(mine, { event: 'notification', payload: JSON.stringify({ id: '1' }) });
    await h.waitForRemoval('life', 'gone', 'gone');
    await removedCountReaches('gone', gone + 1);
    await waitFor(() => h.fake('life').openConnections(mine).length === 0, {
      what: 'the stream to close',
    });
    expect(
      await status('life', 'gone', { appId: OPTED_APP, appSecret: OPTED_SECRET }),
    ).toMatchObject({
      state: 'removed',
      removalReason: 'gone',
      lastError: 'the callback answered 410 Gone',
    });
    // the notification was its only request: no registration.removed followed it
    expect(h.receiver.requestsTo('/cb/gone').map((r) => (r.json as { event: string }).event)).toEqual([
      'notification',
    ]);
  });

  it('sends registration.removed, signed and retried, only to apps that opted in', async () => {
    const [opted, plain] = [token(), token()];
    h.fake('life').addToken(opted);
    h.fake('life').addToken(plain);
    h.receiver.script('/cb/opted', [{ status: 503 }]);
    await h.registered({
      instance: 'life',
      tag: 'opted',
      token: opted,
      appId: OPTED_APP,
      appSecret: OPTED_SECRET,
    });
    await h.registered({ instance: 'life', tag: 'plain', token: plain });
    await h.fake('life').waitForConnection((c) => c.token === opted);
    await h.fake('life').waitForConnection((c) => c.token === plain);

    h.fake('life').revokeToken(opted, 1000);
    h.fake('life').revokeToken(plain, 1000);
    await h.waitForRemoval('life', 'opted', 'revoked');
    await h.waitForRemoval('life', 'plain', 'revoked');
    const [delivered] = await h.receiver.waitForDelivered(1, '/cb/opted');
    expect(delivered.json).toEqual({
      instanceUrl: h.instanceUrl('life'),
      tag: 'opted',
      appId: OPTED_APP,
      event: 'registration.removed',
      payload: { reason: 'revoked' },
    });
    const attempts = h.receiver.requestsTo('/cb/opted');
    expect(attempts.map((r) => r.status)).toEqual([503, 200]);
    // retried with the same webhook-id, so a receiver can deduplicate it
    expect(new Set(attempts.map((r) => r.headers['webhook-id'])).size).toBe(1);
    const verifier = new Webhook(Buffer.from(OPTED_SECRET, 'utf8'), { format: 'raw' });
    expect(() =>
      verifier.verify(delivered.rawBody, {
        'webhook-id': String(delivered.headers['webhook-id']),
        'webhook-timestamp': String(delivered.headers['webhook-timestamp']),
        'webhook-signature': String(delivered.headers['webhook-signature']),
      }),
    ).not.toThrow();
    // the app that did not opt in receives nothing new
    expect(h.receiver.requestsTo('/cb/plain')).toEqual([]);

    // an expired registration of the opted-in app says so
    const stale = token();
    h.fake('life').addToken(stale);
    await h.registered({
      instance: 'life',
      tag: 'opted-stale',
      token: stale,
      appId: OPTED_APP,
      appSecret: OPTED_SECRET,
      callbackPath: '/cb/opted-stale',
    });
    await h.fake('life').waitForConnection((c) => c.token === stale);
    await h.db.dataSource.query(
      h.sql(
        'UPDATE stream_listener_registrations SET "lastUpdate" = ? WHERE "instanceUrl" = ? AND tag = ?',
      ),
      [Date.now() - 80 * 3_600_000, h.instanceUrl('life'), 'opted-stale'],
    );
    const [expired] = await h.receiver.waitForDelivered(1, '/cb/opted-stale');
    expect((expired.json as { payload: unknown }).payload).toEqual({ reason: 'expired' });
    const staleStatus = await status('life', 'opted-stale', {
      appId: OPTED_APP,
      appSecret: OPTED_SECRET,
    });
    expect(staleStatus).toMatchObject({ state: 'removed', removalReason: 'expired' });
  });

  it('relays notifications_merged only to apps that list it; SIGHUP adding it reaches live streams without reconnecting', async () => {
    const [merged, plain] = [token(), token()];
    const fake = h.fake('events');
    fake.addToken(merged);
    fake.addToken(plain);
    await h.registered({
      instance: 'events',
      tag: 'merged',
      token: merged,
      appId: MERGED_APP,
      appSecret: MERGED_SECRET,
    });
    await h.registered({ instance: 'events', tag: 'plain-events', token: plain });
    const mergedConnection = await fake.waitForConnection((c) => c.token === merged);
    const plainConnection = await fake.waitForConnection((c) => c.token === plain);

    for (const t of [merged, plain]) {
      fake.emit(t, { event: 'notifications_merged', payload: '1' });
      // events of one registration are delivered in order: once this arrives, nothing earlier is in flight
      fake.emit(t, { event: 'notification', payload: JSON.stringify({ id: '5' }) });
    }
    await h.receiver.waitForDelivered(2, '/cb/merged');
    await h.receiver.waitForDelivered(1, '/cb/plain-events');
    expect(
      h.receiver.delivered('/cb/merged').map((r) => (r.json as { event: string }).event),
    ).toEqual(['notifications_merged', 'notification']);
    expect(
      h.receiver.delivered('/cb/plain-events').map((r) => (r.json as { event: string }).event),
    ).toEqual(['notification']);

    const upgrades = fake.upgradeAttempts;
    const applied = (h.listener.logs.match(/config applied to/g) ?? []).length;
    h.reloadConfig((apps) => {
      apps[APP_ID] = {
        ...(apps[APP_ID] as object),
        events: ['notification', 'conversation', 'notifications_merged'],
      };
    });
    await waitFor(() => (h.listener.logs.match(/config applied to/g) ?? []).length > applied, {
      what: 'the listener to apply the reloaded config',
    });
    fake.emit(plain, { event: 'notifications_merged', payload: '2' });
    await h.receiver.waitForDelivered(2, '/cb/plain-events');
    expect((h.receiver.delivered('/cb/plain-events')[1].json as { event: string }).event).toBe(
      'notifications_merged',
    );
    expect([plainConnection.closed, mergedConnection.closed, fake.upgradeAttempts]).toEqual([
      false,
      false,
      upgrades,
    ]);
  });

  it('refuses an unknown event name on SIGHUP, naming file, app and name', async () => {
    const applied = (h.listener.logs.match(/config reload failed/g) ?? []).length;
    h.reloadConfig((apps) => {
      apps[MERGED_APP] = { ...(apps[MERGED_APP] as object), events: ['notification', 'favourite'] };
    });
    await waitFor(() => (h.listener.logs.match(/config reload failed/g) ?? []).length > applied, {
      what: 'the listener to refuse the reload',
    });
    const refusal = h.listener.logs
      .split('\n')
      .filter((line) => line.includes('config reload failed'))
      .map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(refusal.at(-1)).toMatch(
      /app_map\.hjson: entry "jp\.example\.merged": events: unknown event "favourite"/,
    );
    h.reloadConfig((apps) => {
      apps[MERGED_APP] = {
        ...(apps[MERGED_APP] as object),
        events: ['notification', 'notifications_merged'],
      };
    });
  });
});
