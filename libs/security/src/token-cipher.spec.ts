import { randomBytes } from 'node:crypto';
import { TokenCipher } from './token-cipher';

const KEY = randomBytes(32);

describe('TokenCipher', () => {
  it('seals a token so that only the same key opens it', () => {
    const cipher = new TokenCipher(KEY);
    const sealed = cipher.seal('tok_ゆーざー_1234');
    expect(sealed).toMatch(/^enc:v1:[A-Za-z0-9+/]+=*$/);
    expect(sealed).not.toContain('tok_');
    expect(cipher.open(sealed)).toBe('tok_ゆーざー_1234');
    expect(new TokenCipher(Buffer.from(KEY)).open(sealed)).toBe('tok_ゆーざー_1234');
    expect(() => new TokenCipher(randomBytes(32)).open(sealed)).toThrow();
  });

  it('tells a sealed value from a plain token', () => {
    expect(TokenCipher.isSealed(new TokenCipher(KEY).seal('tok'))).toBe(true);
    expect(TokenCipher.isSealed('tok-enc:v1:')).toBe(false);
    expect(TokenCipher.isSealed('tok')).toBe(false);
  });

  it('seals the same token differently each time (a fresh IV)', () => {
    const cipher = new TokenCipher(KEY);
    const first = cipher.seal('same-token');
    const second = cipher.seal('same-token');
    expect(first).not.toBe(second);
    expect(cipher.open(first)).toBe('same-token');
    expect(cipher.open(second)).toBe('same-token');
  });

  it('carries IV, tag and ciphertext: 12 + 16 bytes before the encrypted token', () => {
    const sealed = new TokenCipher(KEY).seal('abc');
    expect(Buffer.from(sealed.slice('enc:v1:'.length), 'base64')).toHaveLength(12 + 16 + 3);
  });

  it('refuses a sealed value that was altered', () => {
    const cipher = new TokenCipher(KEY);
    const raw = Buffer.from(cipher.seal('token-to-alter').slice('enc:v1:'.length), 'base64');
    raw[raw.length - 1] ^= 0x01;
    expect(() => cipher.open(`enc:v1:${raw.toString('base64')}`)).toThrow();
    const tag = Buffer.from(raw);
    tag[12] ^= 0x01;
    expect(() => cipher.open(`enc:v1:${tag.toString('base64')}`)).toThrow();
  });

  it('refuses a truncated value, naming it', () => {
    const cipher = new TokenCipher(KEY);
    expect(() => cipher.open(`enc:v1:${randomBytes(27).toString('base64')}`)).toThrow(
      'encrypted access token is truncated',
    );
    // exactly IV and tag: an empty token, sealed, is that long; anything shorter is not a sealed value
    expect(cipher.open(cipher.seal(''))).toBe('');
  });

  it('without a key stores tokens as they are and reads plain ones, but cannot open sealed ones', () => {
    const plain = new TokenCipher(undefined);
    expect(plain.encrypts).toBe(false);
    expect(new TokenCipher(KEY).encrypts).toBe(true);
    expect(plain.seal('tok_plain')).toBe('tok_plain');
    expect(plain.open('tok_plain')).toBe('tok_plain');
    expect(() => plain.open(new TokenCipher(KEY).seal('x'))).toThrow(
      'access token is encrypted but TOKEN_ENCRYPTION_KEY is not set',
    );
  });

  it('reads plain tokens written before a key was configured', () => {
    expect(new TokenCipher(KEY).open('tok_written_by_the_original')).toBe(
      'tok_written_by_the_original',
    );
  });

  it('accepts only a 32-byte key', () => {
    expect(() => new TokenCipher(randomBytes(31))).toThrow('token encryption key must be 32 bytes');
    expect(() => new TokenCipher(randomBytes(33))).toThrow('token encryption key must be 32 bytes');
    expect(() => new TokenCipher(randomBytes(32))).not.toThrow();
  });
});
