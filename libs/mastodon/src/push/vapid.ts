import { createPublicKey, verify } from 'node:crypto';
import { decodeP256PublicKey } from './push-keys';

/** RFC 8292: a VAPID token must not be valid for more than 24 hours. */
const MAX_VAPID_LIFETIME_S = 24 * 3_600;
/** Tolerated difference between the instance's clock and ours. */
const CLOCK_SKEW_S = 300;
const MAX_JWT_LENGTH = 2_048;

export interface VapidInput {
  /** The `Authorization` header as received. */
  authorization: string | undefined;
  /** The `Crypto-Key` header (legacy `WebPush` scheme carries the key there as `p256ecdsa=`). */
  cryptoKey: string | undefined;
  /** The origin the token must name as `aud`: PUBLIC_URL's. */
  audience: string;
  /** The instance's `server_key`, as it gave it when the subscription was made. */
  serverKey: string;
  /** Seconds since the epoch. */
  nowSeconds: number;
}

export type VapidCheck = { ok: true } | { ok: false; reason: string };

/** `dh=…;p256ecdsa=…` (or comma separated): the named parameter's value. */
export function headerParameter(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/[;,]/)) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim().toLowerCase() === name)
      return part.slice(index + 1).trim().replace(/^"|"$/g, '');
  }
  return undefined;
}

/** The token and the key it names: `vapid t=<jwt>, k=<key>` (RFC 8292) or `WebPush <jwt>` with `Crypto-Key: p256ecdsa=<key>`. */
function readCredentials(input: VapidInput): { jwt: string; key: string } | undefined {
  const authorization = input.authorization?.trim() ?? '';
  const space = authorization.indexOf(' ');
  if (space < 0) return undefined;
  const scheme = authorization.slice(0, space).toLowerCase();
  const rest = authorization.slice(space + 1);
  if (scheme === 'vapid') {
    const jwt = headerParameter(rest, 't');
    const key = headerParameter(rest, 'k');
    return jwt && key ? { jwt, key } : undefined;
  }
  if (scheme === 'webpush') {
    const key = headerParameter(input.cryptoKey, 'p256ecdsa');
    return key ? { jwt: rest.trim(), key } : undefined;
  }
  return undefined;
}

function jsonPart(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks a push's VAPID credentials (RFC 8292): the key it names is the
 * instance's `server_key`, the ES256 signature verifies under it, `aud` is our
 * origin and `exp` is in the future, at most 24 hours (and a little skew) ahead.
 */
export function verifyVapid(input: VapidInput): VapidCheck {
  const credentials = readCredentials(input);
  if (!credentials) return { ok: false, reason: 'no VAPID credentials' };
  const { jwt, key } = credentials;
  const expected = decodeP256PublicKey(input.serverKey);
  const given = decodeP256PublicKey(key);
  if (!expected) return { ok: false, reason: 'the stored server key is not a P-256 key' };
  if (!given || !given.equals(expected)) return { ok: false, reason: "the VAPID key is not the instance's server key" };
  if (jwt.length > MAX_JWT_LENGTH) return { ok: false, reason: 'the VAPID token is too long' };
  const parts = jwt.split('.');
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]*$/.test(part)))
    return { ok: false, reason: 'the VAPID token is not a JWT' };
  const header = jsonPart(parts[0]);
  const claims = jsonPart(parts[1]);
  if (!header || !claims) return { ok: false, reason: 'the VAPID token is not a JWT' };
  if (header.alg !== 'ES256') return { ok: false, reason: 'the VAPID token is not ES256' };
  const signature = Buffer.from(parts[2], 'base64url');
  if (signature.length !== 64) return { ok: false, reason: 'the VAPID signature is malformed' };
  const publicKey = createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: expected.subarray(1, 33).toString('base64url'),
      y: expected.subarray(33).toString('base64url'),
    },
    format: 'jwk',
  });
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii');
  if (!verify('sha256', signed, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature))
    return { ok: false, reason: 'the VAPID signature does not verify' };
  if (claims.aud !== input.audience) return { ok: false, reason: 'the VAPID audience is not this server' };
  const exp = claims.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return { ok: false, reason: 'the VAPID token has no expiry' };
  if (exp <= input.nowSeconds - CLOCK_SKEW_S) return { ok: false, reason: 'the VAPID token has expired' };
  if (exp > input.nowSeconds + MAX_VAPID_LIFETIME_S + CLOCK_SKEW_S)
    return { ok: false, reason: 'the VAPID token is valid for more than 24 hours' };
  return { ok: true };
}
