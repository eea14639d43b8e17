import { compareInstanceVersions, parseInstanceVersion, versionAtLeast } from './instance-version';

function compare(a: string, b: string): number {
  return Math.sign(compareInstanceVersions(parseInstanceVersion(a)!, parseInstanceVersion(b)!));
}

describe('instance versions', () => {
  it.each([
    ['4.3.0', [4, 3, 0], []],
    ['4.3.0+glitch', [4, 3, 0], []],
    ['v2.0', [2, 0, 0], []],
    ['1.4rc1', [1, 4, 0], ['rc', 1]],
    ['4.0.0-beta.2', [4, 0, 0], ['beta', 2]],
    ['3.0.0 (compatible; Pleroma 2.5.0)', [3, 0, 0], []],
    ['4.2.1-nightly.2024-01-02', [4, 2, 1], ['nightly', 2024, 1, 2]],
    ['5', [5, 0, 0], []],
  ])('parses %s', (text, numbers, preRelease) => {
    expect(parseInstanceVersion(text)).toEqual({ numbers, preRelease });
  });

  it.each(['', 'glitch', 'version 4', 'x'.repeat(300)])('does not parse %p', (text) => {
    expect(parseInstanceVersion(text)).toBeUndefined();
  });

  it.each([
    ['1.4.10', '1.4.2', 1],
    ['1.4.2', '1.4.10', -1],
    ['1.4rc1', '1.4.2', -1],
    ['1.4.2rc1', '1.4.2', -1],
    ['1.4.2-rc.1', '1.4.2-rc.2', -1],
    ['1.4.2-beta', '1.4.2-rc', -1],
    ['4.3.0+glitch', '4.3.0', 0],
    ['v2.0', '2.0.0', 0],
    ['10.0.0', '9.9.9', 1],
    ['1.4.2', '1.4.1', 1],
  ])('compares %s with %s as %i', (a, b, expected) => {
    expect(compare(a, b)).toBe(expected);
  });

  it('answers whether a version reaches a minimum, refusing what it cannot read', () => {
    expect(versionAtLeast('4.3.0+glitch', '1.4.2')).toBe(true);
    expect(versionAtLeast('1.4.2', '1.4.2')).toBe(true);
    expect(versionAtLeast('1.4.1', '1.4.2')).toBe(false);
    expect(versionAtLeast('1.4rc1', '1.4.2')).toBe(false);
    expect(versionAtLeast('1.4.10', '1.4.2')).toBe(true);
    expect(versionAtLeast('not a version', '1.4.2')).toBe(false);
  });
});
