import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { derivedWebhookId, newWebhookId, WebhookSigner } from './webhook-signer';

describe('WebhookSigner', () => {
  const body =
    '{"instanceUrl":"https://m.example","tag":"t","appId":"a","event":"notification","payload":"{\\"id\\":\\"1\\"}"}';

  it('signs "id.timestamp.body" with HMAC-SHA256 keyed by the UTF-8 bytes of the secret', () => {
    const secret = 'sécret-🔑';
    const headers = new WebhookSigner().sign(secret, 'msg_abc', 1_714_564_800_123, body);

    const expected = createHmac('sha256', Buffer.from(secret, 'utf8'))
      .update(`msg_abc.1714564800.${body}`)
      .digest('base64');
    expect(headers).toEqual({
      'webhook-id': 'msg_abc',
      'webhook-timestamp': '1714564800',
      'webhook-signature': `v1,${expected}`,
    });
  });

  it('produces what a Standard Webhooks receiver verifies', () => {
    const secret = 'receiver-shared-secret';
    const headers = new WebhookSigner().sign(secret, newWebhookId(), Date.now(), body);
    const receiver = new Webhook(Buffer.from(secret, 'utf8'), { format: 'raw' });

    expect(receiver.verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(() => receiver.verify(`${body} `, { ...headers })).toThrow();
    expect(() =>
      new Webhook(Buffer.from('other', 'utf8'), { format: 'raw' }).verify(body, { ...headers }),
    ).toThrow();
  });

  it('keeps one key per secret and still signs with the right one when secrets alternate', () => {
    const signer = new WebhookSigner();
    const a1 = signer.sign('secret-a', 'msg_1', 1_000_000, body);
    const b = signer.sign('secret-b', 'msg_1', 1_000_000, body);
    const a2 = signer.sign('secret-a', 'msg_1', 1_000_000, body);
    expect(a2).toEqual(a1);
    expect(b['webhook-signature']).not.toBe(a1['webhook-signature']);
  });
});

describe('newWebhookId', () => {
  it('is msg_ and 32 hex digits, different every time', () => {
    const ids = new Set(Array.from({ length: 1_000 }, () => newWebhookId()));
    expect(ids.size).toBe(1_000);
    for (const id of ids) expect(id).toMatch(/^msg_[0-9a-f]{32}$/);
  });
});

describe('derivedWebhookId', () => {
  const key = { instanceUrl: 'https://m.example', appId: 'app', tag: 'tag' };

  it('is the same for the same registration, event and object, and fits the retry table', () => {
    const id = derivedWebhookId(key, 'notification', '123');
    expect(id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(derivedWebhookId({ ...key }, 'notification', '123')).toBe(id);
    expect(id.length).toBeLessThanOrEqual(64);
  });

  it('differs when any part differs, however the parts could be joined', () => {
    const id = derivedWebhookId(key, 'notification', '123');
    expect(derivedWebhookId(key, 'notification', '124')).not.toBe(id);
    expect(derivedWebhookId(key, 'conversation', '123')).not.toBe(id);
    expect(derivedWebhookId({ ...key, tag: 'tag2' }, 'notification', '123')).not.toBe(id);
    expect(derivedWebhookId({ ...key, appId: 'app2' }, 'notification', '123')).not.toBe(id);
    expect(
      derivedWebhookId({ ...key, instanceUrl: 'https://n.example' }, 'notification', '123'),
    ).not.toBe(id);
    expect(derivedWebhookId({ ...key, tag: 'a","b' }, 'x', 'y')).not.toBe(
      derivedWebhookId({ ...key, tag: 'a' }, 'b","x', 'y'),
    );
  });
});
