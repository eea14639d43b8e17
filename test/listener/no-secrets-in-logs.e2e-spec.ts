import { randomBytes } from 'node:crypto';
import { waitFor } from '../support/wait-for';
import { APP_SECRET, ListenerHarness } from './listener-harness';

describe('listener and api at LOG_LEVEL=trace: no secret in any output', () => {
  let h: ListenerHarness;

  beforeAll(async () => {
    h = await ListenerHarness.start({
      instances: { alpha: { version: '4.3.0' } },
      env: { LOG_LEVEL: 'trace' },
    });
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('runs a full scenario without the access tokens or the app secret appearing in either process’s output', async () => {
    const fake = h.fake('alpha');
    const first = `tok_${randomBytes(16).toString('hex')}`;
    const second = `tok_${randomBytes(16).toString('hex')}`;
    fake.addToken(first);
    fake.addToken(second);

    await h.registered({ instance: 'alpha', tag: 'secretive', token: first });
    await fake.waitForConnection((c) => c.token === first);
    fake.emit(first, { event: 'notification', payload: JSON.stringify({ id: '1' }) });
    await h.receiver.waitForDelivered(1, '/cb/secretive');
    // a hostile instance echoing the token in frames the listener cannot parse, which it logs
    fake.emit(first, `x ${first}`);
    fake.emit(first, `{"payload":"${first}"}`);
    fake.emit(first, Buffer.from(first));

    // renewal with another token, then revocation of that one (401 on reconnect)
    await h.registered({ instance: 'alpha', tag: 'secretive', token: second });
    await fake.waitForConnection((c) => c.token === second);
    fake.revokeToken(second, 1000);
    await h.waitForRemoval('alpha', 'secretive', 'revoked');

    // a wrong secret and a registration removed by the app server
    const wrong = await h.unregister('alpha', 'secretive', { appSecret: `${APP_SECRET}-wrong` });
    expect([401, 403]).toContain(wrong.status);
    await h.registered({ instance: 'alpha', tag: 'secretive', token: first });
    await fake.waitForConnection((c) => c.token === first);
    expect((await h.unregister('alpha', 'secretive')).status).toBe(202);
    await waitFor(() => fake.openConnections(first).length === 0, { what: 'the stream to close' });

    await h.listener.stop();
    await h.api.stop();
    const outputs = { api: h.api.logs, listener: h.listener.logs };
    for (const [name, output] of Object.entries(outputs)) {
      // the scenario did log at trace level: the check below is not vacuous
      expect({ name, lines: output.split('\n').length > 20 }).toEqual({ name, lines: true });
      // a prefix catches a token cut short by an excerpt too
      for (const secret of [
        first.slice(0, 20),
        second.slice(0, 20),
        APP_SECRET,
        `${APP_SECRET}-wrong`,
      ]) {
        expect({ name, secret, leaked: output.includes(secret) }).toEqual({
          name,
          secret,
          leaked: false,
        });
      }
      expect({ name, bearer: /Bearer\s+tok_/.test(output) }).toEqual({ name, bearer: false });
    }
    expect(h.listener.logs).toContain('malformed frame skipped');
    expect(h.listener.logs).toContain('secretive removed (revoked)');
  });
});
