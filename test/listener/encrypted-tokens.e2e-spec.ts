import { randomBytes } from 'node:crypto';
import { waitFor } from '../support/wait-for';
import { ListenerHarness } from './listener-harness';

const KEY = randomBytes(32);

/** Both apps with TOKEN_ENCRYPTION_KEY: the api seals tokens, the listener opens them to stream. */
describe('listener with TOKEN_ENCRYPTION_KEY', () => {
  let h: ListenerHarness;

  beforeAll(async () => {
    h = await ListenerHarness.start({
      instances: { sealed: { version: '4.3.0' } },
      env: { TOKEN_ENCRYPTION_KEY: KEY.toString('base64') },
    });
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('streams with the token it decrypted from the table and relays the notification', async () => {
    const token = `tok_${randomBytes(12).toString('hex')}`;
    h.fake('sealed').addToken(token);
    await h.registered({ instance: 'sealed', tag: 'sealed-1', token });

    const [stored]: { accessToken: string }[] = await h.db.dataSource.query(
      h.sql('SELECT "accessToken" FROM stream_listener_registrations WHERE tag = ?'),
      ['sealed-1'],
    );
    expect(stored.accessToken).toMatch(/^enc:v1:/);
    expect(stored.accessToken).not.toContain(token);

    const connection = await h.fake('sealed').waitForConnection((c) => c.token === token);
    expect(connection.authorization).toBe(`Bearer ${token}`);
    const payload = JSON.stringify({ id: 'sealed-101', type: 'mention' });
    await waitFor(() => h.fake('sealed').emit(token, { event: 'notification', payload }) > 0);
    const [delivered] = await h.receiver.waitForDelivered(1, '/cb/sealed-1');
    expect(delivered.json).toMatchObject({ tag: 'sealed-1', event: 'notification', payload });
  });
});
