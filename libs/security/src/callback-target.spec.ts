import { checkCallbackTarget, parseCallbackPrefix } from './callback-target';

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
});
