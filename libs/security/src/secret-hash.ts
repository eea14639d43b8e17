import { createHash, timingSafeEqual } from 'node:crypto';

const PREFIX = 'sha256:';

/**
 * The app secret is stored only as a hash: enough to notice that an app's
 * secret changed since the registration was written, useless to a reader of the table.
 */
export function hashSecret(secret: string): string {
  return PREFIX + createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function isHashedSecret(stored: string | null | undefined): boolean {
  return typeof stored === 'string' && stored.startsWith(PREFIX) && stored.length === PREFIX.length + 64;
}

/** Compares two secrets in constant time (independent of where they differ, and of their lengths). */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}
