import { createECDH } from 'node:crypto';
import * as ece from 'http_ece';
import { headerParameter } from './vapid';

/** The two Web Push encodings: RFC 8291 (Mastodon 4.4+, `subscription[standard]`) and the older draft. */
export const PUSH_ENCODINGS = ['aes128gcm', 'aesgcm'] as const;
export type PushEncoding = (typeof PUSH_ENCODINGS)[number];

/** The push could not be decrypted with the subscription's keys; the message names no key. */
export class PushDecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PushDecryptionError';
  }
}

export interface EncryptedPush {
  body: Buffer;
  /** The `Content-Encoding` header. */
  contentEncoding: string | undefined;
  /** `Crypto-Key` (aesgcm: the sender's `dh=`). */
  cryptoKey: string | undefined;
  /** `Encryption` (aesgcm: `salt=`). */
  encryption: string | undefined;
}

export interface ReceivingKeys {
  /** base64url, as stored. */
  privateKey: string;
  authSecret: string;
}

/** Salt and key lengths the encodings fix; checked before the library sees them. */
const SALT_BYTES = 16;
const AES128GCM_HEADER_BYTES = 21;
const P256_POINT_BYTES = 65;

function base64url(value: string | undefined): Buffer | undefined {
  if (!value || !/^[A-Za-z0-9_-]+={0,2}$/.test(value)) return undefined;
  return Buffer.from(value.replace(/=+$/, ''), 'base64url');
}

/**
 * Decrypts a push with the subscription's private key and auth secret, by
 * its Content-Encoding, through `http_ece` (the reference implementation of
 * RFC 8188, which also implements the older `aesgcm`).
 */
export function decryptPush(push: EncryptedPush, keys: ReceivingKeys): Buffer {
  const encoding = push.contentEncoding?.trim().toLowerCase();
  if (encoding !== 'aes128gcm' && encoding !== 'aesgcm')
    throw new PushDecryptionError('Content-Encoding must be aes128gcm or aesgcm');
  const receiver = createECDH('prime256v1');
  try {
    receiver.setPrivateKey(Buffer.from(keys.privateKey, 'base64url'));
  } catch {
    throw new PushDecryptionError('the stored private key is unusable');
  }
  const authSecret = keys.authSecret;
  try {
    if (encoding === 'aes128gcm') {
      // the sender's public key travels in the header's keyid
      if (push.body.length < AES128GCM_HEADER_BYTES || push.body[20] !== P256_POINT_BYTES)
        throw new PushDecryptionError('the aes128gcm header does not carry a P-256 key');
      return ece.decrypt(push.body, { version: 'aes128gcm', privateKey: receiver, authSecret });
    }
    const dh = base64url(headerParameter(push.cryptoKey, 'dh'));
    const salt = base64url(headerParameter(push.encryption, 'salt'));
    if (!dh || dh.length !== P256_POINT_BYTES) throw new PushDecryptionError('Crypto-Key has no P-256 dh');
    if (!salt || salt.length !== SALT_BYTES) throw new PushDecryptionError('Encryption has no 16-byte salt');
    const rs = headerParameter(push.encryption, 'rs');
    return ece.decrypt(push.body, {
      version: 'aesgcm',
      privateKey: receiver,
      dh: dh.toString('base64url'),
      salt: salt.toString('base64url'),
      authSecret,
      ...(rs !== undefined && /^\d{1,7}$/.test(rs) ? { rs: Number(rs) } : {}),
    });
  } catch (error) {
    if (error instanceof PushDecryptionError) throw error;
    // the library's messages say which check failed, never a key
    throw new PushDecryptionError(`not decryptable with this subscription's keys (${(error as Error).message})`);
  }
}
