import {
  checkCallbackTarget,
  matchingPrefix,
  parseCallbackPrefix,
  parseCallbackUrl,
} from './callback-target';

const PREFIX = 'http://127.0.0.1:5341/cb/';
const noResolver = (): Promise<string[]> => Promise.reject(new Error('must not resolve'));

describe('checkCallbackTarget with a callbackUrlPrefix', () => {
  it.each([
    ['a path under it', 'http://127.0.0.1:5341/cb/user-1'],
    ['the folder itself', 'http://127.0.0.1:5341/cb/'],
    ['the folder without its slash', 'http://127.0.0.1:5341/cb'],
    ['a dot segment that stays inside', 'http://127.0.0.1:5341/cb/a/../b'],
    ['a query', 'http://127.0.0.1:5341/cb/x?user=1'],
    ['an upper-case scheme and host', 'HTTP://127.0.0.1:5341/cb/x'],
  ])('accepts %s', async (_, url) => {
    await expect(checkCallbackTarget(url, PREFIX, noResolver)).resolves.toEqual({
      ok: true,
      addresses: [],
    });
  });

  it.each([
    ['..', 'http://127.0.0.1:5341/cb/../admin'],
    ['%2e%2e', 'http://127.0.0.1:5341/cb/%2e%2e/admin'],
    ['.%2e', 'http://127.0.0.1:5341/cb/.%2e/admin'],
    ['%2E%2E%2F', 'http://127.0.0.1:5341/cb/%2E%2E%2Fadmin'],
    ['an encoded backslash', 'http://127.0.0.1:5341/cb/..%5Cadmin'],
    ['a backslash', 'http://127.0.0.1:5341/cb\\..\\admin'],
    ['a backslash after the folder', 'http://127.0.0.1:5341/cb/..\\admin'],
    ['a longer folder name', 'http://127.0.0.1:5341/cbx/'],
    ['a longer port', 'http://127.0.0.1:53410/cb/'],
    ['credentials before another host', 'http://127.0.0.1:5341@evil.example/cb/'],
    ['a fragment', 'http://127.0.0.1:5341/cb/#/x'],
    ['another scheme', 'https://127.0.0.1:5341/cb/x'],
  ])('refuses an escape through %s', async (_, url) => {
    const check = await checkCallbackTarget(url, PREFIX, noResolver);
    expect(check.ok).toBe(false);
  });

  it('compares host names whole: a longer name does not match', async () => {
    const prefix = 'https://push.example.com';
    await expect(
      checkCallbackTarget('https://push.example.com/cb', prefix, noResolver),
    ).resolves.toMatchObject({ ok: true });
    for (const url of [
      'https://push.example.com.evil.example/cb',
      'https://push.example.community/cb',
    ]) {
      await expect(checkCallbackTarget(url, prefix, noResolver)).resolves.toMatchObject({
        ok: false,
      });
    }
  });

  it('reads a prefix ending in ":" as every port of that host', async () => {
    await expect(
      checkCallbackTarget('http://127.0.0.1:40123/x', 'http://127.0.0.1:', noResolver),
    ).resolves.toMatchObject({ ok: true });
    await expect(
      checkCallbackTarget('http://127.0.0.10:40123/x', 'http://127.0.0.1:', noResolver),
    ).resolves.toMatchObject({ ok: false });
  });
});

describe('parseCallbackPrefix', () => {
  it.each([
    ['not a URL', 'push.example.com/cb'],
    ['another scheme', 'ftp://push.example.com/'],
    ['credentials', 'https://user@push.example.com/'],
    ['a query', 'https://push.example.com/cb?x=1'],
    ['an encoded slash', 'https://push.example.com/a%2Fb/'],
  ])('refuses %s', (_, text) => {
    expect(parseCallbackPrefix(text).ok).toBe(false);
  });

  it.each([
    ['push.example.com/cb', 'is not a valid URL'],
    ['ftp://push.example.com/', 'must be an http:// or https:// URL'],
    ['https://:pw@push.example.com/', 'must not contain credentials'],
    ['https://push.example.com/cb?x=1', 'must not contain a query or a fragment'],
    // an empty query or fragment, which URL drops
    ['https://push.example.com/cb?', 'must not contain a query or a fragment'],
    ['https://push.example.com/cb#', 'must not contain a query or a fragment'],
    ['https://push.example.com/a%5Cb/', 'must not contain dot segments or encoded slashes'],
  ])('says why it refuses %s', (text, reason) => {
    expect(parseCallbackPrefix(text)).toEqual({ ok: false, reason });
  });

  it('reads a prefix without its trailing slash as that folder, not as the host', async () => {
    const prefix = 'http://127.0.0.1:5341/cb';
    await expect(
      checkCallbackTarget('http://127.0.0.1:5341/cb/x', prefix, noResolver),
    ).resolves.toMatchObject({ ok: true });
    await expect(
      checkCallbackTarget('http://127.0.0.1:5341/other', prefix, noResolver),
    ).resolves.toMatchObject({ ok: false });
  });
});

describe('parseCallbackUrl', () => {
  it.each([
    ['not a URL', 'is not a valid URL'],
    ['ftp://127.0.0.1:5341/cb/x', 'must be an http:// or https:// URL'],
    ['http://user@127.0.0.1:5341/cb/x', 'must not contain credentials'],
    ['http://:pw@127.0.0.1:5341/cb/x', 'must not contain credentials'],
    ['http://127.0.0.1:5341/cb/x#', 'must not contain a fragment (#)'],
    [
      'http://127.0.0.1:5341/cb/a%2Fb',
      'must not contain encoded slashes, backslashes or dot segments',
    ],
  ])('refuses %s, saying why', (text, reason) => {
    expect(parseCallbackUrl(text)).toEqual({ ok: false, reason });
  });

  it('says which rule a callback outside every prefix breaks', async () => {
    await expect(
      checkCallbackTarget('http://127.0.0.1:5341/other', PREFIX, noResolver),
    ).resolves.toEqual({
      ok: false,
      reason: 'does not start with a callbackUrlPrefix configured for this app',
    });
  });
});

describe('matchingPrefix', () => {
  it('names the prefix a URL lies under, and none without prefixes', () => {
    const url = new URL('http://127.0.0.1:5341/cb/x');
    expect(matchingPrefix(url, ['https://other.example/', PREFIX])).toBe(PREFIX);
    expect(matchingPrefix(url, PREFIX)).toBe(PREFIX);
    expect(matchingPrefix(url, undefined)).toBeUndefined();
    expect(matchingPrefix(url, [])).toBeUndefined();
  });
});
