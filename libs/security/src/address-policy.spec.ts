import dns from 'node:dns/promises';
import { checkPublicTarget, isPublicAddress, literalHostIsPublic } from './address-policy';

describe('isPublicAddress', () => {
  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:93.184.216.34'])(
    'takes %s for public',
    (address) => expect(isPublicAddress(address)).toBe(true),
  );

  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '255.255.255.255',
    '224.0.0.1',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    'not-an-address',
    '',
  ])('refuses %s', (address) => expect(isPublicAddress(address)).toBe(false));
});

describe('literalHostIsPublic', () => {
  it('judges IP literals, IPv6 in brackets included', () => {
    expect(literalHostIsPublic(new URL('https://93.184.216.34/x'))).toBe(true);
    expect(literalHostIsPublic(new URL('https://[2606:4700:4700::1111]:8443/'))).toBe(true);
    expect(literalHostIsPublic(new URL('https://127.0.0.1/'))).toBe(false);
    expect(literalHostIsPublic(new URL('https://[::1]/'))).toBe(false);
    expect(literalHostIsPublic(new URL('https://[::ffff:7f00:1]/'))).toBe(false);
  });

  it('refuses localhost and its subdomains by name', () => {
    expect(literalHostIsPublic(new URL('http://localhost:3000/'))).toBe(false);
    expect(literalHostIsPublic(new URL('http://app.localhost/'))).toBe(false);
  });

  it('leaves other names to be resolved', () => {
    expect(literalHostIsPublic(new URL('https://mastodon.example/'))).toBeUndefined();
    expect(literalHostIsPublic(new URL('https://notlocalhost.example/'))).toBeUndefined();
    expect(literalHostIsPublic(new URL('https://localhost.example/'))).toBeUndefined();
  });
});

describe('checkPublicTarget', () => {
  const resolvingTo =
    (...addresses: string[]) =>
    (host: string) => {
      seen.push(host);
      return Promise.resolve(addresses);
    };
  let seen: string[];
  beforeEach(() => (seen = []));

  it('accepts a name whose every address is public, and gives them', async () => {
    expect(
      await checkPublicTarget(
        new URL('https://cb.example/x'),
        resolvingTo('93.184.216.34', '2606:4700::1'),
      ),
    ).toEqual({ ok: true, addresses: ['93.184.216.34', '2606:4700::1'] });
    expect(seen).toEqual(['cb.example']);
  });

  it('refuses a name with one private address among public ones', async () => {
    expect(
      await checkPublicTarget(
        new URL('https://cb.example/'),
        resolvingTo('93.184.216.34', '10.0.0.5'),
      ),
    ).toEqual({ ok: false, reason: 'resolves to a loopback, private or link-local address' });
  });

  it('refuses a name that resolves to nothing, or does not resolve', async () => {
    expect(await checkPublicTarget(new URL('https://cb.example/'), resolvingTo())).toEqual({
      ok: false,
      reason: 'host name does not resolve',
    });
    expect(
      await checkPublicTarget(new URL('https://cb.example/'), () =>
        Promise.reject(new Error('ENOTFOUND')),
      ),
    ).toEqual({ ok: false, reason: 'host name does not resolve' });
  });

  it('judges IP literals without resolving them', async () => {
    expect(
      await checkPublicTarget(new URL('https://93.184.216.34/'), resolvingTo('10.0.0.1')),
    ).toEqual({
      ok: true,
      addresses: ['93.184.216.34'],
    });
    expect(await checkPublicTarget(new URL('https://[2606:4700::1]/'), resolvingTo())).toEqual({
      ok: true,
      addresses: ['2606:4700::1'],
    });
    expect(
      await checkPublicTarget(new URL('https://192.168.0.1/'), resolvingTo('93.184.216.34')),
    ).toEqual({
      ok: false,
      reason: 'resolves to a loopback, private or link-local address',
    });
    expect(seen).toEqual([]);
  });

  it('without a resolver given, asks the system for every address of the name', async () => {
    // as dns.lookup does: one address unless all are asked for
    const lookup = jest.spyOn(dns, 'lookup').mockImplementation(((
      _host: string,
      options?: { all?: boolean },
    ) =>
      Promise.resolve(
        options?.all
          ? [
              { address: '93.184.216.34', family: 4 },
              { address: '10.0.0.9', family: 4 },
            ]
          : { address: '93.184.216.34', family: 4 },
      )) as typeof dns.lookup);
    try {
      expect(await checkPublicTarget(new URL('https://two-faced.example/'))).toEqual({
        ok: false,
        reason: 'resolves to a loopback, private or link-local address',
      });
      expect(lookup.mock.calls[0][0]).toBe('two-faced.example');
    } finally {
      lookup.mockRestore();
    }
  });
});
