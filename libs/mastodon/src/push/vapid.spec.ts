import * as webpush from 'web-push';
import { headerParameter, verifyVapid } from './vapid';

const AUDIENCE = 'https://relay.example';
const NOW = 1_700_000_000;

function headers(keys: webpush.VapidKeys, encoding: 'aes128gcm' | 'aesgcm', options: { audience?: string; expiration?: number } = {}) {
  return webpush.getVapidHeaders(
    options.audience ?? AUDIENCE,
    'mailto:admin@instance.example',
    keys.publicKey,
    keys.privateKey,
    encoding,
    options.expiration ?? NOW + 12 * 3_600,
  );
}

describe('verifyVapid', () => {
  const instance = webpush.generateVAPIDKeys();
  const check = (given: { Authorization: string; 'Crypto-Key'?: string }, serverKey = instance.publicKey) =>
    verifyVapid({
      authorization: given.Authorization,
      cryptoKey: given['Crypto-Key'],
      audience: AUDIENCE,
      serverKey,
      nowSeconds: NOW,
    });

  it('accepts `vapid t=…, k=…` (RFC 8292) and `WebPush <jwt>` with Crypto-Key p256ecdsa from the server key', () => {
    expect(check(headers(instance, 'aes128gcm'))).toEqual({ ok: true });
    const legacy = headers(instance, 'aesgcm');
    expect(legacy.Authorization).toMatch(/^WebPush /);
    expect(check(legacy)).toEqual({ ok: true });
  });

  it('accepts the server key written in padded standard base64, as some instances give it', () => {
    const padded = Buffer.from(instance.publicKey, 'base64url').toString('base64');
    expect(check(headers(instance, 'aes128gcm'), padded)).toEqual({ ok: true });
  });

  it('refuses another key, even one that signs correctly', () => {
    const other = webpush.generateVAPIDKeys();
    expect(check(headers(other, 'aes128gcm'))).toEqual({ ok: false, reason: "the VAPID key is not the instance's server key" });
  });

  it("refuses a token signed by another key that names the server's key", () => {
    const other = webpush.generateVAPIDKeys();
    const forged = headers(other, 'aes128gcm').Authorization.replace(/k=[^,\s]+/, `k=${instance.publicKey}`);
    expect(check({ Authorization: forged })).toEqual({ ok: false, reason: 'the VAPID signature does not verify' });
  });

  it('refuses another audience, an expired token and one valid for more than a day', () => {
    expect(check(headers(instance, 'aes128gcm', { audience: 'https://elsewhere.example' }))).toMatchObject({
      reason: 'the VAPID audience is not this server',
    });
    expect(check(headers(instance, 'aes128gcm', { expiration: NOW - 3_600 }))).toMatchObject({
      reason: 'the VAPID token has expired',
    });
    expect(check(headers(instance, 'aes128gcm', { expiration: NOW + 3 * 86_400 }))).toMatchObject({
      reason: 'the VAPID token is valid for more than 24 hours',
    });
  });

  it.each([
    ['no header', undefined],
    ['another scheme', 'Bearer abc'],
    ['vapid without a key', 'vapid t=a.b.c'],
    ['WebPush without Crypto-Key', 'WebPush a.b.c'],
  ])('refuses %s', (_case, authorization) => {
    expect(verifyVapid({ authorization, cryptoKey: undefined, audience: AUDIENCE, serverKey: instance.publicKey, nowSeconds: NOW })).toEqual({
      ok: false,
      reason: 'no VAPID credentials',
    });
  });

  it('refuses a token that is not a JWT or not ES256', () => {
    const good = headers(instance, 'aes128gcm').Authorization;
    expect(check({ Authorization: good.replace(/t=[^,]+/, 't=not-a-jwt') })).toMatchObject({ reason: 'the VAPID token is not a JWT' });
    const jwt = /t=([^,]+)/.exec(good)![1];
    const [, claims, signature] = jwt.split('.');
    const none = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'none' })).toString('base64url');
    expect(check({ Authorization: good.replace(jwt, `${none}.${claims}.${signature}`) })).toMatchObject({
      reason: 'the VAPID token is not ES256',
    });
  });

  it('reads parameters separated by ; or ,', () => {
    expect(headerParameter('dh=abc;p256ecdsa=def', 'p256ecdsa')).toBe('def');
    expect(headerParameter('t=x, k=y', 'k')).toBe('y');
    expect(headerParameter(undefined, 'k')).toBeUndefined();
  });
});
