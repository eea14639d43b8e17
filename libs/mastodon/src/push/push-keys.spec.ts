import { decodeP256PublicKey, generatePushKeys, isPushId, newPushId, pushEndpoint } from './push-keys';

describe('push keys', () => {
  it('makes a P-256 key pair and a 16-byte auth secret, new each time', () => {
    const a = generatePushKeys();
    const b = generatePushKeys();
    expect(decodeP256PublicKey(a.publicKey)).toHaveLength(65);
    expect(Buffer.from(a.privateKey, 'base64url')).toHaveLength(32);
    expect(Buffer.from(a.authSecret, 'base64url')).toHaveLength(16);
    expect(a.privateKey).not.toBe(b.privateKey);
  });

  it('makes push ids of 256 random bits that isPushId recognises, and nothing else', () => {
    const id = newPushId();
    expect(isPushId(id)).toBe(true);
    expect(id).not.toBe(newPushId());
    for (const bad of ['', 'short', `${id}x`, `${id.slice(1)}/`, '../'.repeat(15)]) expect(isPushId(bad)).toBe(false);
  });

  it('appends /push/<id> to PUBLIC_URL, with or without a trailing slash', () => {
    expect(pushEndpoint('https://relay.example/base/', 'abc')).toBe('https://relay.example/base/push/abc');
    expect(pushEndpoint('https://relay.example', 'abc')).toBe('https://relay.example/push/abc');
  });

  it('decodes only uncompressed P-256 points', () => {
    expect(decodeP256PublicKey(Buffer.alloc(65, 4).toString('base64'))).toHaveLength(65);
    expect(decodeP256PublicKey(Buffer.alloc(33, 2).toString('base64url'))).toBeUndefined();
    expect(decodeP256PublicKey('not base64!')).toBeUndefined();
  });
});
