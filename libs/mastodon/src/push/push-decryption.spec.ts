import * as webpush from 'web-push';
import { generatePushKeys } from './push-keys';
import { decryptPush, PushDecryptionError } from './push-decryption';

function encrypted(keys: { publicKey: string; authSecret: string }, payload: string, encoding: 'aes128gcm' | 'aesgcm') {
  const details = webpush.generateRequestDetails(
    { endpoint: 'https://relay.example/push/x', keys: { p256dh: keys.publicKey, auth: keys.authSecret } },
    payload,
    { contentEncoding: encoding },
  );
  const headers = details.headers as Record<string, string>;
  return {
    body: details.body,
    contentEncoding: headers['Content-Encoding'],
    cryptoKey: headers['Crypto-Key'],
    encryption: headers.Encryption,
  };
}

describe('decryptPush', () => {
  const keys = generatePushKeys();

  it.each(['aes128gcm', 'aesgcm'] as const)('decrypts %s with the subscription keys', (encoding) => {
    const text = JSON.stringify({ notification_id: 123, title: 'ゆーざー' });
    expect(decryptPush(encrypted(keys, text, encoding), keys).toString('utf8')).toBe(text);
  });

  it.each(['aes128gcm', 'aesgcm'] as const)('refuses %s made for other keys', (encoding) => {
    const other = generatePushKeys();
    expect(() => decryptPush(encrypted(other, 'x', encoding), keys)).toThrow(PushDecryptionError);
  });

  it('refuses the same push under another auth secret', () => {
    const push = encrypted(keys, 'x', 'aes128gcm');
    expect(() => decryptPush(push, { ...keys, authSecret: generatePushKeys().authSecret })).toThrow(PushDecryptionError);
  });

  it('refuses an unknown encoding, a truncated body, garbage and missing aesgcm headers', () => {
    const push = encrypted(keys, 'x', 'aes128gcm');
    expect(() => decryptPush({ ...push, contentEncoding: 'gzip' }, keys)).toThrow('Content-Encoding must be aes128gcm or aesgcm');
    expect(() => decryptPush({ ...push, body: push.body.subarray(0, 10) }, keys)).toThrow(PushDecryptionError);
    expect(() => decryptPush({ ...push, body: Buffer.alloc(300, 7) }, keys)).toThrow(PushDecryptionError);
    expect(() => decryptPush({ ...push, body: push.body.subarray(0, push.body.length - 1) }, keys)).toThrow(PushDecryptionError);
    const legacy = encrypted(keys, 'x', 'aesgcm');
    expect(() => decryptPush({ ...legacy, cryptoKey: undefined }, keys)).toThrow('Crypto-Key has no P-256 dh');
    expect(() => decryptPush({ ...legacy, encryption: 'salt=abc' }, keys)).toThrow('Encryption has no 16-byte salt');
  });

  it('never names a key in its error', () => {
    try {
      decryptPush({ ...encrypted(generatePushKeys(), 'x', 'aes128gcm') }, keys);
      throw new Error('decrypted');
    } catch (error) {
      for (const secret of [keys.privateKey, keys.authSecret]) expect((error as Error).message).not.toContain(secret);
    }
  });
});
