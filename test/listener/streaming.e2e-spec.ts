import { randomBytes } from 'node:crypto';
import { waitFor } from '../support/wait-for';
import { APP_ID, ListenerHarness } from './listener-harness';

/** A token nobody else uses. */
function newToken(): string {
  return `tok_${randomBytes(12).toString('hex')}`;
}

function notificationPayload(id: string): string {
  // the shape Mastodon sends: the payload is a JSON string, with unicode and escapes kept as they are
  return JSON.stringify({
    id,
    type: 'mention',
    created_at: '2024-11-22T10:00:00.000Z',
    account: { acct: 'ゆーざー@example' },
    status: { content: '<p>hi \\"there\\" \u2603</p>' },
  });
}

describe('listener: streams, events and lifecycle', () => {
  let h: ListenerHarness;

  beforeAll(async () => {
    h = await ListenerHarness.start({
      instances: {
        alpha: { version: '4.3.0+glitch' },
        old: { version: '1.4.1' },
        drops: { version: '4.2.0' },
        garbage: { version: '4.2.0' },
        moved: { version: '4.2.0' },
        flaky: { version: '4.2.0' },
        limited: { version: '4.2.0' },
        announced: { version: '4.2.0' },
        announcedprivate: { version: '4.2.0' },
      },
      entries: {
        limited: { maxConnections: 1 },
        // no replaceUrl: the stream goes where the instance announces (a loopback address here)
        announced: { replaceUrl: undefined },
        announcedprivate: { replaceUrl: undefined, allowPrivateAddress: true },
      },
    });
    h.fake('announced').streamingApi = h.fake('announced').url;
    h.fake('announcedprivate').streamingApi = `${h.fake('announcedprivate').url}/streaming-host`;
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('opens a stream with the token only in the Authorization header and relays a notification byte for byte', async () => {
    const token = newToken();
    h.fake('alpha').addToken(token);
    await h.registered({ instance: 'alpha', tag: 'first', token });

    const connection = await h.fake('alpha').waitForConnection((c) => c.token === token);
    expect(connection.authorization).toBe(`Bearer ${token}`);
    expect(connection.stream).toBe('user:notification');
    expect(connection.url).not.toContain(token);
    expect(connection.url).toBe('/api/v1/streaming?stream=user%3Anotification');

    const payload = notificationPayload('101');
    await waitFor(() => h.fake('alpha').emit(token, { event: 'notification', payload }) > 0);
    const [delivered] = await h.receiver.waitForDelivered(1, '/cb/first');
    expect(delivered.headers['content-type']).toMatch(/^application\/json/);
    expect(delivered.json).toEqual({
      instanceUrl: h.instanceUrl('alpha'),
      tag: 'first',
      appId: APP_ID,
      event: 'notification',
      payload,
    });
    expect((delivered.json as { payload: string }).payload).toBe(payload);
  });

  it('counts but does not relay update, delete and unknown events', async () => {
    const token = newToken();
    h.fake('alpha').addToken(token);
    await h.registered({ instance: 'alpha', tag: 'quiet', token });
    await h.fake('alpha').waitForConnection((c) => c.token === token);

    h.fake('alpha').emit(token, { event: 'update', payload: JSON.stringify({ id: 'u1' }) });
    h.fake('alpha').emit(token, { event: 'delete', payload: 'u1' });
    h.fake('alpha').emit(token, { event: 'conversation', payload: JSON.stringify({ id: 'c1' }) });
    h.fake('alpha').emit(token, { event: 'some.future.event', payload: '{}' });
    h.fake('alpha').emit(token, { event: 'notification', payload: notificationPayload('102') });

    const [delivered] = await h.receiver.waitForDelivered(1, '/cb/quiet');
    expect((delivered.json as { event: string }).event).toBe('notification');
    await waitFor(
      async () => (await h.metric('msl_events_received_total', { event: 'unknown' })) >= 1,
    );
    expect(await h.metric('msl_events_received_total', { event: 'update' })).toBeGreaterThanOrEqual(
      1,
    );
    expect(await h.metric('msl_events_received_total', { event: 'delete' })).toBeGreaterThanOrEqual(
      1,
    );
    expect(h.receiver.requestsTo('/cb/quiet')).toHaveLength(1);
  });

  it('relays conversation events from the direct stream', async () => {
    const token = newToken();
    h.fake('alpha').addToken(token);
    await h.registered({ instance: 'alpha', tag: 'dm', token, endpoint: 'direct' });
    const connection = await h.fake('alpha').waitForConnection((c) => c.token === token);
    expect(connection.stream).toBe('direct');

    const payload = JSON.stringify({
      id: '7',
      unread: true,
      last_status: { id: '99', visibility: 'direct' },
    });
    h.fake('alpha').emit(token, { event: 'update', payload: JSON.stringify({ id: '99' }) });
    h.fake('alpha').emit(token, { event: 'conversation', payload });
    const [delivered] = await h.receiver.waitForDelivered(1, '/cb/dm');
    expect(delivered.json).toEqual({
      instanceUrl: h.instanceUrl('alpha'),
      tag: 'dm',
      appId: APP_ID,
      event: 'conversation',
      payload,
    });
  });

  it('uses the user stream before 1.4.2 and user:notification from then on', async () => {
    const oldToken = newToken();
    h.fake('old').addToken(oldToken);
    await h.registered({ instance: 'old', tag: 'legacy', token: oldToken });
    const legacy = await h.fake('old').waitForConnection((c) => c.token === oldToken);
    expect(legacy.stream).toBe('user');

    const newTokenValue = newToken();
    h.fake('alpha').addToken(newTokenValue);
    await h.registered({ instance: 'alpha', tag: 'modern', token: newTokenValue });
    const modern = await h.fake('alpha').waitForConnection((c) => c.token === newTokenValue);
    expect(modern.stream).toBe('user:notification');
  });

  it('reconnects with the new token when a registration is renewed with another one, closing the old stream', async () => {
    const first = newToken();
    const second = newToken();
    h.fake('alpha').addToken(first);
    h.fake('alpha').addToken(second);
    await h.registered({ instance: 'alpha', tag: 'renewed', token: first });
    const old = await h.fake('alpha').waitForConnection((c) => c.token === first);

    await h.registered({ instance: 'alpha', tag: 'renewed', token: second });
    const renewed = await h.fake('alpha').waitForConnection((c) => c.token === second);
    expect(renewed.authorization).toBe(`Bearer ${second}`);
    await waitFor(() => old.closed, { what: 'the stream with the old token to close' });
    expect(h.fake('alpha').openConnections(first)).toHaveLength(0);

    h.fake('alpha').emit(second, { event: 'notification', payload: notificationPayload('201') });
    await h.receiver.waitForDelivered(1, '/cb/renewed');
  });

  it('closes the stream when the registration is removed', async () => {
    const token = newToken();
    h.fake('alpha').addToken(token);
    await h.registered({ instance: 'alpha', tag: 'leaving', token });
    const connection = await h.fake('alpha').waitForConnection((c) => c.token === token);

    const response = await h.unregister('alpha', 'leaving');
    expect(response.status).toBe(202);
    await waitFor(() => connection.closed, { what: 'the stream to close after unregister' });
    expect(connection.closeCode).toBe(1000);
    expect(h.fake('alpha').openConnections(token)).toHaveLength(0);
  });

  it('removes the registration when the instance refuses its token with 401', async () => {
    const token = newToken();
    h.fake('alpha').addToken(token);
    await h.registered({ instance: 'alpha', tag: 'revoked', token });
    await h.fake('alpha').waitForConnection((c) => c.token === token);
    expect(await h.row('alpha', 'revoked')).toBeDefined();
    // the catch-up floor is taken: the refusal comes from the upgrade, not from the REST API
    await waitFor(() => h.fake('alpha').restRequests.some((r) => r.token === token));

    h.fake('alpha').revokeToken(token, 1000);
    await h.waitForRemoval('alpha', 'revoked', 'revoked');
    await h.waitForListenerLog(
      // the upgrade or the catch-up's REST call, whichever comes first, is refused
      'registration https://alpha.test jp.example.relaytest revoked removed (revoked): ',
    );
    expect(
      await h.metric('msl_stream_failures_total', {
        instance: h.instanceUrl('alpha'),
        reason: 'unauthorized',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(h.fake('alpha').refusedUpgrades.filter((r) => r.token === token)).toHaveLength(1);
    // nothing retries the revoked registration: a later one connects, and still only one refusal for it
    const other = newToken();
    h.fake('alpha').addToken(other);
    await h.registered({ instance: 'alpha', tag: 'after-revoke', token: other });
    await h.fake('alpha').waitForConnection((c) => c.token === other);
    expect(h.fake('alpha').refusedUpgrades.filter((r) => r.token === token)).toHaveLength(1);
  });

  it('removes the registration when the instance refuses its token with 403 (a token without the needed scope)', async () => {
    const token = newToken();
    h.fake('alpha').addToken(token);
    await h.registered({ instance: 'alpha', tag: 'forbidden', token });
    await h.fake('alpha').waitForConnection((c) => c.token === token);

    // the catch-up floor is taken: the refusal comes from the upgrade, not from the REST API
    await waitFor(() => h.fake('alpha').restRequests.some((r) => r.token === token));
    h.fake('alpha').refuseToken(token, 403, 1000);
    await h.waitForRemoval('alpha', 'forbidden', 'scope');
    expect((await h.lifecycle('alpha', 'forbidden'))?.lastError).toContain(
      'the upgrade answered HTTP 403',
    );
    expect(h.fake('alpha').refusedUpgrades.filter((r) => r.token === token)).toEqual([
      { token, status: 403 },
    ]);
  });

  it('reconnects after the instance drops every connection and relays what comes after', async () => {
    const tokens = [newToken(), newToken(), newToken()];
    for (const [i, token] of tokens.entries()) {
      h.fake('drops').addToken(token);
      await h.registered({ instance: 'drops', tag: `drop-${i}`, token });
    }
    await waitFor(() => h.fake('drops').openCount === 3, { what: 'three streams' });
    const before = h.fake('drops').connectionsOpened;

    h.fake('drops').dropAll();
    await waitFor(
      () => h.fake('drops').openCount === 3 && h.fake('drops').connectionsOpened >= before + 3,
      {
        what: 'all three streams to come back',
      },
    );
    for (const [i, token] of tokens.entries()) {
      h.fake('drops').emit(token, {
        event: 'notification',
        payload: notificationPayload(`drop-${i}`),
      });
    }
    for (let i = 0; i < tokens.length; i++) await h.receiver.waitForDelivered(1, `/cb/drop-${i}`);
    expect(
      await h.metric('msl_stream_reconnects_total', { instance: h.instanceUrl('drops') }),
    ).toBeGreaterThanOrEqual(3);
  });

  it('closes and ends registrations that were not renewed in time', async () => {
    const token = newToken();
    h.fake('alpha').addToken(token);
    await h.registered({ instance: 'alpha', tag: 'stale', token });
    const connection = await h.fake('alpha').waitForConnection((c) => c.token === token);

    const longAgo = Date.now() - 80 * 3_600_000;
    await h.db.dataSource.query(
      h.sql(
        'UPDATE stream_listener_registrations SET "lastUpdate" = ? WHERE "instanceUrl" = ? AND tag = ?',
      ),
      [longAgo, h.instanceUrl('alpha'), 'stale'],
    );
    await waitFor(() => connection.closed, { what: 'the expired stream to close' });
    await h.waitForRemoval('alpha', 'stale', 'expired');
    await waitFor(
      async () => (await h.metric('msl_registrations_removed_total', { reason: 'expired' })) === 1,
      {
        what: 'the expiry to be counted',
      },
    );
  });

  it('survives garbage frames and keeps relaying', async () => {
    const token = newToken();
    const fake = h.fake('garbage');
    fake.addToken(token);
    await h.registered({ instance: 'garbage', tag: 'garbage', token });
    await fake.waitForConnection((c) => c.token === token);

    fake.emit(token, 'this is not json');
    fake.emit(token, '{"payload":"no event here"}');
    fake.emit(token, '[1,2,3]');
    fake.emit(token, 'null');
    fake.emit(token, `{"event":${JSON.stringify('x'.repeat(500))},"payload":"{}"}`);
    fake.emit(token, '{"event":"notification","payload":');
    fake.emit(token, Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    fake.emit(token, { event: 'notification', payload: { already: 'an object' } });
    fake.emit(token, { event: 'notification', payload: notificationPayload('after-garbage') });

    const delivered = await h.receiver.waitForDelivered(2, '/cb/garbage');
    expect(delivered.map((r) => (r.json as { payload: unknown }).payload)).toEqual([
      { already: 'an object' },
      notificationPayload('after-garbage'),
    ]);
    expect(
      await h.metric('msl_events_received_total', { event: 'malformed' }),
    ).toBeGreaterThanOrEqual(6);
    expect(h.listener.logs).toContain('malformed frame skipped (not_json)');
    expect(h.listener.logs).not.toContain(token);

    // a frame over the size cap ends that connection only; the stream comes back and relays again
    const opened = fake.connectionsOpened;
    fake.emit(token, { event: 'notification', payload: 'x'.repeat(2 * 1_048_576) });
    await waitFor(
      () => fake.connectionsOpened > opened && fake.openConnections(token).length === 1,
      {
        what: 'the stream to come back after a huge frame',
      },
    );
    expect(
      await h.metric('msl_stream_failures_total', {
        instance: h.instanceUrl('garbage'),
        reason: 'too_large',
      }),
    ).toBe(1);
    fake.emit(token, { event: 'notification', payload: notificationPayload('after-huge') });
    await h.receiver.waitForDelivered(3, '/cb/garbage');
    expect((await fetch(`${h.listenerUrl}/health`)).status).toBe(200);
    expect(h.listener.exitStatus).toBeUndefined();
  });

  it('cuts a stream whose peer stops answering pings and reconnects it', async () => {
    const token = newToken();
    const fake = h.fake('drops');
    fake.addToken(token);
    await h.registered({ instance: 'drops', tag: 'silent', token });
    const connection = await fake.waitForConnection((c) => c.token === token);

    fake.silence(token);
    await fake.waitForConnection((c) => c.token === token && c.id !== connection.id);
    expect(
      await h.metric('msl_stream_failures_total', {
        instance: h.instanceUrl('drops'),
        reason: 'timeout',
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('follows a redirect of the upgrade, keeping the Authorization header', async () => {
    const token = newToken();
    const fake = h.fake('moved');
    fake.addToken(token);
    fake.redirectUpgrades('/moved/api/v1/streaming');
    await h.registered({ instance: 'moved', tag: 'moved', token });
    const connection = await fake.waitForConnection((c) => c.token === token);
    expect(connection.url).toBe('/moved/api/v1/streaming?stream=user%3Anotification');
    expect(connection.authorization).toBe(`Bearer ${token}`);
  });

  it('retries with backoff while the instance info is unavailable or upgrades are refused', async () => {
    const token = newToken();
    const fake = h.fake('flaky');
    fake.addToken(token);
    fake.instanceInfoStatus = 503;
    await h.registered({ instance: 'flaky', tag: 'flaky', token });
    await waitFor(
      async () =>
        (await h.metric('msl_stream_failures_total', {
          instance: h.instanceUrl('flaky'),
          reason: 'instance_info',
        })) >= 2,
      {
        what: 'instance info failures to be counted',
      },
    );
    expect(fake.upgradeAttempts).toBe(0);

    fake.refuseUpgrades(503);
    fake.instanceInfoStatus = undefined;
    await waitFor(
      async () =>
        (await h.metric('msl_stream_failures_total', {
          instance: h.instanceUrl('flaky'),
          reason: 'http_status',
        })) >= 2,
      {
        what: 'refused upgrades to be counted',
      },
    );
    expect(await h.row('flaky', 'flaky')).toBeDefined();

    fake.refuseUpgrades(undefined);
    await fake.waitForConnection((c) => c.token === token);
  });

  it('refuses an announced streaming_api on a private address unless the operator allows it', async () => {
    const token = newToken();
    h.fake('announced').addToken(token);
    await h.registered({ instance: 'announced', tag: 'announced', token });
    await waitFor(
      async () =>
        (await h.metric('msl_stream_failures_total', {
          instance: h.instanceUrl('announced'),
          reason: 'refused_address',
        })) >= 1,
      {
        what: 'the private streaming_api to be refused',
      },
    );
    expect(h.fake('announced').upgradeAttempts).toBe(0);

    const allowed = newToken();
    h.fake('announcedprivate').addToken(allowed);
    await h.registered({ instance: 'announcedprivate', tag: 'announced', token: allowed });
    const connection = await h
      .fake('announcedprivate')
      .waitForConnection((c) => c.token === allowed);
    expect(connection.url).toBe('/streaming-host/api/v1/streaming?stream=user%3Anotification');
  });

  it('holds at most maxConnections streams to an instance; the next one waits for a free slot', async () => {
    const fake = h.fake('limited');
    const [first, second] = [newToken(), newToken()];
    fake.addToken(first);
    fake.addToken(second);
    await h.registered({ instance: 'limited', tag: 'slot-1', token: first });
    const firstConnection = await fake.waitForConnection((c) => c.token === first);
    await h.registered({ instance: 'limited', tag: 'slot-2', token: second });
    await h.waitForListenerLog('https://limited.test is at its maxConnections');
    expect(fake.openConnections(second)).toHaveLength(0);

    await h.unregister('limited', 'slot-1');
    await fake.waitForConnection((c) => c.token === second);
    await waitFor(() => firstConnection.closed, { what: 'the first stream to be closed' });
    expect(fake.openCount).toBe(1);
    expect(fake.connections.filter((c) => c.token === second)).toHaveLength(1);
  });

  it('reports health and stream metrics', async () => {
    const response = await fetch(`${h.listenerUrl}/health`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      status: string;
      database: string;
      lastReconcileAgeMs: number;
      streams: number;
    };
    expect(body).toMatchObject({ status: 'ok', database: 'up' });
    expect(body.lastReconcileAgeMs).toBeLessThan(10_000);
    expect(body.streams).toBeGreaterThan(0);
    expect(
      await h.metric('msl_streams_open', { instance: h.instanceUrl('alpha') }),
    ).toBeGreaterThan(0);
    expect(await h.metric('msl_reconcile_last_success_timestamp_seconds')).toBeGreaterThan(
      Date.now() / 1000 - 30,
    );
  });

  // last: it stops the shared listener
  it('closes every stream with code 1001 when the listener is stopped', async () => {
    const open = h.fake('alpha').openConnections();
    expect(open.length).toBeGreaterThan(0);
    const status = await h.listener.stop('SIGTERM');
    expect(status.code).toBe(0);
    for (const connection of open) {
      expect({ id: connection.id, closed: connection.closed, code: connection.closeCode }).toEqual({
        id: connection.id,
        closed: true,
        code: 1001,
      });
    }
    expect(h.listener.logs).toMatch(/closed \d+ stream\(s\)/);
  });
});
