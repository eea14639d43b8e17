import { Settings } from '@app/config';
import {
  AddressGuardService,
  publicOnlyLookup,
  redirectAllowed,
  RefusedAddressError,
} from './address-guard.service';

const settings = { listener: { instanceInfoTtlMs: 60_000 } } as Settings;

describe('AddressGuardService', () => {
  it('resolves a host once for concurrent checks and caches the verdict', async () => {
    const resolve = jest.fn().mockResolvedValue(['93.184.216.34']);
    const guard = new AddressGuardService(settings, resolve);
    const results = await Promise.all(
      [1, 2, 3].map(() => guard.check(new URL('wss://streaming.example/api/v1/streaming'))),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    await guard.check(new URL('https://streaming.example/other'));
    expect(resolve).toHaveBeenCalledTimes(1);
    expect(resolve).toHaveBeenCalledWith('streaming.example');
  });

  it('refuses names that resolve to private addresses and literal loopback addresses', async () => {
    const guard = new AddressGuardService(settings, async () => ['10.1.2.3']);
    await expect(
      guard.assertPublic(new URL('https://internal.example'), 'instance URL'),
    ).rejects.toBeInstanceOf(RefusedAddressError);
    const literal = await guard.check(new URL('ws://127.0.0.1:4000'));
    expect(literal.ok).toBe(false);
  });
});

describe('redirectAllowed', () => {
  it('refuses a downgrade to plain text and, when guarded, a literal private target', () => {
    const from = new URL('wss://a.example/api/v1/streaming');
    expect(redirectAllowed(from, new URL('ws://a.example/x'), false)).toEqual({
      ok: false,
      reason: 'redirect to a plain-text URL refused',
    });
    expect(redirectAllowed(from, new URL('wss://192.168.1.1/x'), true).ok).toBe(false);
    expect(redirectAllowed(from, new URL('wss://192.168.1.1/x'), false).ok).toBe(true);
    expect(redirectAllowed(new URL('ws://a.example'), new URL('ws://b.example'), true).ok).toBe(
      true,
    );
  });
});

describe('publicOnlyLookup', () => {
  it('fails for a name that resolves to loopback', async () => {
    const error = await new Promise<Error | null>((resolve) =>
      publicOnlyLookup('localhost', {}, (e) => resolve(e)),
    );
    expect(error).toBeInstanceOf(RefusedAddressError);
    expect((error as RefusedAddressError).code).toBe('ERR_MSL_REFUSED_ADDRESS');
  });
});
