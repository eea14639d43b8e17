import type { LookupFunction } from 'node:net';
import { CallbackAddressRefusedError, createPublicOnlyLookup } from './callback-http-agents';

let publicOnlyLookup: LookupFunction;
const asked: { hostname: string; all: boolean }[] = [];

/** The resolver answers every name with `addresses` (or fails with the error). */
function resolveTo(addresses: string[] | NodeJS.ErrnoException): void {
  publicOnlyLookup = createPublicOnlyLookup((hostname, options, callback) => {
    asked.push({ hostname, all: options.all });
    if (addresses instanceof Error) callback(addresses, []);
    else
      callback(
        null,
        addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      );
  });
}

function lookup(all: boolean): Promise<{ error: Error | null; address: unknown; family?: number }> {
  return new Promise((resolve) => {
    publicOnlyLookup('receiver.example', { all }, (error, address, family) =>
      resolve({ error, address, family }),
    );
  });
}

describe('createPublicOnlyLookup', () => {
  beforeEach(() => (asked.length = 0));

  it('always asks the resolver for every address of the name', async () => {
    resolveTo(['93.184.216.34']);
    await lookup(false);
    expect(asked).toEqual([{ hostname: 'receiver.example', all: true }]);
  });

  it('passes public addresses through, in both lookup shapes', async () => {
    resolveTo(['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946']);
    expect(await lookup(false)).toEqual({ error: null, address: '93.184.216.34', family: 4 });
    const all = await lookup(true);
    expect(all.error).toBeNull();
    expect(all.address).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1:248:1893:25c8:1946', family: 6 },
    ]);
  });

  it.each([
    ['127.0.0.1'],
    ['10.1.2.3'],
    ['192.168.0.10'],
    ['169.254.169.254'],
    ['::1'],
    ['fd00::1'],
    ['::ffff:127.0.0.1'],
  ])('refuses a host resolving to %s', async (address) => {
    resolveTo([address]);
    const { error } = await lookup(true);
    expect(error).toBeInstanceOf(CallbackAddressRefusedError);
    expect((error as CallbackAddressRefusedError).code).toBe('ERR_CALLBACK_ADDRESS_REFUSED');
  });

  it('refuses a host when any one of its addresses is private', async () => {
    resolveTo(['93.184.216.34', '10.0.0.5']);
    expect((await lookup(false)).error).toBeInstanceOf(CallbackAddressRefusedError);
  });

  it('passes resolution errors on unchanged (a retryable connection error)', async () => {
    const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND receiver.example'), {
      code: 'ENOTFOUND',
    });
    resolveTo(notFound);
    expect((await lookup(false)).error).toBe(notFound);
  });
});
