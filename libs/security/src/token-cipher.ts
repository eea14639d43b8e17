import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Encrypts access tokens at rest with AES-256-GCM when a key is configured.
 * Values written without a key (or by the original program) are plain text
 * and are read as they are, so a key can be introduced on an existing table.
 */
export class TokenCipher {
  constructor(private readonly key: Buffer | undefined) {
    if (key && key.length !== 32) throw new Error('token encryption key must be 32 bytes');
  }

  /** Whether a stored value is sealed (under some key) rather than plain text. */
  static isSealed(stored: string): boolean {
    return stored.startsWith(PREFIX);
  }

  get encrypts(): boolean {
    return this.key !== undefined;
  }

  seal(token: string): string {
    if (!this.key) return token;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  /** Throws when the value is encrypted and no key, or another key, is configured. */
  open(stored: string): string {
    if (!stored.startsWith(PREFIX)) return stored;
    if (!this.key) throw new Error('access token is encrypted but TOKEN_ENCRYPTION_KEY is not set');
    const raw = Buffer.from(stored.slice(PREFIX.length), 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('encrypted access token is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  }
}
