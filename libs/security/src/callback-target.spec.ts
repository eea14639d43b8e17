import { checkCallbackTarget, matchingPrefix } from './callback-target';

const publicResolver = () => Promise.resolve(['93.184.216.34']);
const privateResolver = () => Promise.resolve(['10.0.0.7']);

describe('matchingPrefix', () => {
  it('gives the first prefix the URL starts with', () => {
    expect(matchingPrefix('https://a.example/hook', 'https://a.example/')).toBe(
      'https://a.example/',
    );
    expect(
      matchingPrefix('https://b.example/hook', [
        'https://a.example/',
        'https://b.example/',
        'https://b.',
      ]),
    ).toBe('https://b.example/');
    expect(matchingPrefix('https://c.example/hook', ['https://a.example/'])).toBeUndefined();
    expect(matchingPrefix('https://a.example/hook', [])).toBeUndefined();
    expect(matchingPrefix('https://a.example/hook', undefined)).toBeUndefined();
    // a prefix is matched at the start only
    expect(
      matchingPrefix('https://evil.example/https://a.example/', 'https://a.example/'),
    ).toBeUndefined();
  });
});

describe('checkCallbackTarget', () => {
  it('refuses what is not an http(s) URL', async () => {
    expect(await checkCallbackTarget('not a url', undefined, publicResolver)).toEqual({
      ok: false,
      reason: 'is not a valid URL',
    });
    for (const url of ['ftp://cb.example/x', 'file:///etc/passwd', 'ws://cb.example/'])
      expect(await checkCallbackTarget(url, 'ftp://', publicResolver)).toEqual({
        ok: false,
        reason: 'must be an http:// or https:// URL',
      });
  });

  it('refuses credentials in the URL, even under a prefix', async () => {
    for (const url of [
      'https://user:pw@cb.example/x',
      'https://user@cb.example/x',
      'https://:pw@cb.example/x',
    ])
      expect(await checkCallbackTarget(url, 'https://', publicResolver)).toEqual({
        ok: false,
        reason: 'must not contain credentials',
      });
  });

  it('with prefixes: trusts a URL under one without resolving it, refuses others', async () => {
    expect(
      await checkCallbackTarget(
        'http://127.0.0.1:9000/cb',
        ['http://127.0.0.1:9000/'],
        privateResolver,
      ),
    ).toEqual({
      ok: true,
      addresses: [],
    });
    expect(
      await checkCallbackTarget('http://cb.example/cb', 'http://cb.example/', privateResolver),
    ).toEqual({
      ok: true,
      addresses: [],
    });
    expect(
      await checkCallbackTarget(
        'https://other.example/cb',
        ['https://cb.example/'],
        publicResolver,
      ),
    ).toEqual({
      ok: false,
      reason: 'does not start with a callbackUrlPrefix configured for this app',
    });
  });

  it('without prefixes: only public hosts', async () => {
    expect(await checkCallbackTarget('https://cb.example/cb', undefined, publicResolver)).toEqual({
      ok: true,
      addresses: ['93.184.216.34'],
    });
    expect(await checkCallbackTarget('http://cb.example/cb', undefined, privateResolver)).toEqual({
      ok: false,
      reason: 'resolves to a loopback, private or link-local address',
    });
    expect(
      await checkCallbackTarget('http://127.0.0.1/cb', undefined, publicResolver),
    ).toMatchObject({ ok: false });
  });
});
