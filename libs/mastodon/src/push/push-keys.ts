import { createECDH, randomBytes } from 'node:crypto';

/** The receiving side of one Web Push subscription (RFC 8291), each part base64url. */
export interface PushKeys {
  /** Uncompressed P-256 point (65 bytes): `subscription[keys][p256dh]`. */
  publicKey: string;
  /** The 32-byte P-256 private scalar. */
  privateKey: string;
  /** 16 random bytes: `subscription[keys][auth]`. */
  authSecret: string;
}

const PUSH_ID_BYTES = 32;
/** 32 bytes in base64url, unpadded. */
const PUSH_ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A new key pair and auth secret for one subscription. */
export function generatePushKeys(): PushKeys {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    publicKey: ecdh.getPublicKey().toString('base64url'),
    privateKey: ecdh.getPrivateKey().toString('base64url'),
    authSecret: randomBytes(16).toString('base64url'),
  };
}

/** The last segment of `{PUBLIC_URL}/push/<id>`: 256 random bits, so that nobody can guess where to push. */
export function newPushId(): string {
  return randomBytes(PUSH_ID_BYTES).toString('base64url');
}

/** Whether `text` has the shape of a push id (checked before any database lookup). */
export function isPushId(text: string): boolean {
  return PUSH_ID_PATTERN.test(text);
}

/** `{publicUrl}/push/<pushId>`: the endpoint given to the instance. */
export function pushEndpoint(publicUrl: string, pushId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/push/${pushId}`;
}

/**
 * Decodes a P-256 public key written in base64 or base64url (with or without
 * padding, as instances write `server_key`); undefined unless it is an
 * uncompressed point (65 bytes, 0x04 first).
 */
export function decodeP256PublicKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9_+/-]+={0,2}$/.test(trimmed)) return undefined;
  const bytes = Buffer.from(trimmed.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), 'base64url');
  return bytes.length === 65 && bytes[0] === 0x04 ? bytes : undefined;
}
