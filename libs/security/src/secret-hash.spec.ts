import { createHash } from 'node:crypto';
import { hashSecret, isHashedSecret, secretsEqual } from './secret-hash';

describe('secret hashing', () => {
  it('stores "sha256:" and the hex SHA-256 of the UTF-8 secret', () => {
    const expected = createHash('sha256').update(Buffer.from('sécret', 'utf8')).digest('hex');
    expect(hashSecret('sécret')).toBe(`sha256:${expected}`);
    expect(hashSecret('a')).not.toBe(hashSecret('b'));
  });

  it('tells a stored hash from a plain secret left by the original program', () => {
    expect(isHashedSecret(hashSecret('anything'))).toBe(true);
    expect(isHashedSecret('plain-secret')).toBe(false);
    expect(isHashedSecret(`sha256:${'0'.repeat(63)}`)).toBe(false);
    expect(isHashedSecret(`sha256:${'0'.repeat(65)}`)).toBe(false);
    expect(isHashedSecret(`sha512:${'0'.repeat(64)}`)).toBe(false);
    expect(isHashedSecret(`${'0'.repeat(64)}sha256:`)).toBe(false);
    expect(isHashedSecret(null)).toBe(false);
    expect(isHashedSecret(undefined)).toBe(false);
  });

  it('compares secrets of any lengths', () => {
    expect(secretsEqual('app-secret', 'app-secret')).toBe(true);
    expect(secretsEqual('app-secret', 'app-secreT')).toBe(false);
    expect(secretsEqual('short', 'a much longer secret')).toBe(false);
    expect(secretsEqual('', '')).toBe(true);
    expect(secretsEqual('', 'x')).toBe(false);
  });
});
