import { randomBytes } from 'node:crypto';
import { TokenCipher } from '@app/security';
import { resealTokens, SealedColumn } from './reencrypt-tokens.command';

/** The two queries resealTokens uses, over an in-memory table; `renewDuring` rewrites a row between read and write. */
function table(stored: string[], renewDuring?: { id: number; value: string }) {
  const rows = new Map(stored.map((value, index) => [index + 1, value]));
  const repository: SealedColumn = {
    findStoredAfter: async (afterId: number, limit: number) =>
      [...rows.entries()]
        .filter(([id]) => id > afterId)
        .slice(0, limit)
        .map(([id, value]) => ({ id, stored: value })),
    replaceStored: async (id: number, expected: string, next: string) => {
      if (renewDuring?.id === id) rows.set(id, renewDuring.value);
      if (rows.get(id) !== expected) return false;
      rows.set(id, next);
      return true;
    },
  };
  return { rows, repository };
}

describe('resealTokens', () => {
  const key = randomBytes(32);

  it('leaves a row renewed between its read and its write as the api wrote it', async () => {
    const renewed = new TokenCipher(key).seal('renewed-token');
    const { rows, repository } = table(['one', 'two'], { id: 2, value: renewed });
    const counts = await resealTokens([repository], key, undefined);
    expect(counts).toEqual({ sealed: 1, resealed: 0, alreadySealed: 0, changedMeanwhile: 1, unreadable: 0 });
    expect(rows.get(2)).toBe(renewed);
    expect(new TokenCipher(key).open(rows.get(1)!)).toBe('one');
  });

  it('reads past the first batch', async () => {
    const tokens = Array.from({ length: 450 }, (_, i) => `token-${i}`);
    const { rows, repository } = table(tokens);
    expect((await resealTokens([repository], key, undefined)).sealed).toBe(450);
    expect([...rows.values()].map((v) => new TokenCipher(key).open(v))).toEqual(tokens);
  });
});
