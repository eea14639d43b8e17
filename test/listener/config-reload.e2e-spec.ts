import { randomBytes } from 'node:crypto';
import { waitFor } from '../support/wait-for';
import { ListenerHarness } from './listener-harness';

const OTHER_APP = 'jp.example.otherapp';
const OTHER_SECRET = 'other-secret-55aa';

function newToken(): string {
  return `tok_${randomBytes(12).toString('hex')}`;
}

describe('listener: config reload (SIGHUP)', () => {
  let h: ListenerHarness;

  beforeAll(async () => {
    h = await ListenerHarness.start({
      instances: { alpha: { version: '4.2.0' }, beta: { version: '4.2.0' } },
      apps: { [OTHER_APP]: { secret: OTHER_SECRET } },
    });
  });

  afterAll(async () => {
    await h?.stop();
  });

  /** Sends SIGHUP after `change` and waits until the listener has applied the new config. */
  async function reload(change: Parameters<ListenerHarness['reloadConfig']>[0]): Promise<void> {
    const applied = (h.listener.logs.match(/config applied to/g) ?? []).length;
    h.reloadConfig(change);
    await waitFor(() => (h.listener.logs.match(/config applied to/g) ?? []).length > applied, {
      what: 'the listener to apply the reloaded config',
    });
  }

  it('ends the registrations of an app removed from app_map (reason config); registering again brings one back', async () => {
    const [mine, theirs] = [newToken(), newToken()];
    h.fake('alpha').addToken(mine);
    h.fake('alpha').addToken(theirs);
    await h.registered({ instance: 'alpha', tag: 'kept', token: mine });
    await h.registered({
      instance: 'alpha',
      tag: 'removed-app',
      token: theirs,
      appId: OTHER_APP,
      appSecret: OTHER_SECRET,
    });
    const keptConnection = await h.fake('alpha').waitForConnection((c) => c.token === mine);
    const removedConnection = await h.fake('alpha').waitForConnection((c) => c.token === theirs);

    const saved: Record<string, unknown> = {};
    await reload((apps) => {
      saved.app = apps[OTHER_APP];
      delete apps[OTHER_APP];
    });
    await waitFor(() => removedConnection.closed, { what: 'the removed app’s stream to close' });
    expect(keptConnection.closed).toBe(false);
    await h.waitForRemoval('alpha', 'removed-app', 'config');
    await h.waitForListenerLog('removed-app removed (config): app is no longer in app_map');

    // putting the app back does not revive what ended; its app server registering again does
    await reload((apps) => {
      apps[OTHER_APP] = saved.app;
    });
    expect(h.fake('alpha').openConnections(theirs)).toHaveLength(0);
    await h.registered({
      instance: 'alpha',
      tag: 'removed-app',
      token: theirs,
      appId: OTHER_APP,
      appSecret: OTHER_SECRET,
    });
    await h
      .fake('alpha')
      .waitForConnection((c) => c.token === theirs && c.id !== removedConnection.id);
    await waitFor(async () => (await h.lifecycle('alpha', 'removed-app'))?.state === 'streaming', {
      what: 'the registration to stream again',
    });
  });

  it('closes the streams of an app whose secret was rotated', async () => {
    const token = newToken();
    h.fake('alpha').addToken(token);
    await h.registered({
      instance: 'alpha',
      tag: 'rotated',
      token,
      appId: OTHER_APP,
      appSecret: OTHER_SECRET,
    });
    const connection = await h.fake('alpha').waitForConnection((c) => c.token === token);

    await reload((apps) => {
      apps[OTHER_APP] = { ...(apps[OTHER_APP] as object), secret: 'a-brand-new-secret' };
    });
    await waitFor(() => connection.closed, {
      what: 'the stream registered with the old secret to close',
    });
    await h.waitForRemoval('alpha', 'rotated', 'config');
    await h.waitForListenerLog('rotated removed (config): app secret changed since the registration');
    expect(h.fake('alpha').openConnections(token)).toHaveLength(0);
  });

  it('closes the streams of an instance removed from instance_map', async () => {
    const token = newToken();
    h.fake('beta').addToken(token);
    await h.registered({ instance: 'beta', tag: 'beta-user', token });
    const connection = await h.fake('beta').waitForConnection((c) => c.token === token);

    await reload((_apps, instances) => {
      delete instances[h.instanceUrl('beta')];
    });
    await waitFor(() => connection.closed, { what: 'the stream of the removed instance to close' });
    await h.waitForRemoval('beta', 'beta-user', 'config');
    // streams of instances still configured stay open
    expect(h.fake('alpha').openCount).toBeGreaterThan(0);
  });
});
