import { compareMastodonIds, isMastodonId, newerMastodonId } from './mastodon-id';

describe('compareMastodonIds', () => {
  it('orders numeric ids as numbers, by length first, exactly beyond 2^53', () => {
    expect(compareMastodonIds('9', '10')).toBeLessThan(0);
    expect(compareMastodonIds('10', '9')).toBeGreaterThan(0);
    expect(compareMastodonIds('113000000000000000001', '113000000000000000000')).toBeGreaterThan(0);
    // as floats these two are the same number
    expect(Number('9007199254740993')).toBe(Number('9007199254740992'));
    expect(compareMastodonIds('9007199254740993', '9007199254740992')).toBeGreaterThan(0);
    expect(compareMastodonIds('123', '123')).toBe(0);
  });

  it('ignores leading zeros of numeric ids', () => {
    expect(compareMastodonIds('007', '7')).toBe(0);
    expect(compareMastodonIds('0010', '9')).toBeGreaterThan(0);
    expect(compareMastodonIds('0', '1')).toBeLessThan(0);
  });

  it('orders other ids as strings (sortable ids of other servers)', () => {
    expect(compareMastodonIds('AbC9', 'AbD0')).toBeLessThan(0);
    expect(compareMastodonIds('9fz', '10a')).toBeGreaterThan(0);
    expect(compareMastodonIds('abc', 'abc')).toBe(0);
    // one numeric, one not: strings
    expect(compareMastodonIds('0', 'A1')).toBeLessThan(0);
  });

  it('picks the newer id, an absent one losing', () => {
    expect(newerMastodonId('9', '10')).toBe('10');
    expect(newerMastodonId('10', '9')).toBe('10');
    expect(newerMastodonId(null, '3')).toBe('3');
    expect(newerMastodonId('3', undefined)).toBe('3');
    expect(newerMastodonId(null, null)).toBeNull();
  });
});

describe('isMastodonId', () => {
  it('accepts printable ASCII of 1 to 64 characters only', () => {
    expect(isMastodonId('113000000000000000001')).toBe(true);
    expect(isMastodonId('AbC-9_z')).toBe(true);
    expect(isMastodonId('x'.repeat(64))).toBe(true);
    for (const bad of ['', 'x'.repeat(65), 'a b', 'é', '1\n', 12, null, undefined, {}]) {
      expect(isMastodonId(bad)).toBe(false);
    }
  });
});
