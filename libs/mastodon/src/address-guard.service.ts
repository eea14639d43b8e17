import { lookup as dnsLookup, LookupAddress, LookupOptions } from 'node:dns';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { SETTINGS, Settings } from '@app/config';
import {
  AddressCheck,
  checkPublicTarget,
  isPublicAddress,
  literalHostIsPublic,
} from '@app/security';

/** Thrown (or passed to a socket) when a target outside the operator's control points at a non-public address. */
export class RefusedAddressError extends Error {
  readonly code = 'ERR_MSL_REFUSED_ADDRESS';
  constructor(what: string, reason: string) {
    super(`${what} ${reason}`);
    this.name = 'RefusedAddressError';
  }
}

/** Optional provider replacing DNS resolution in the guard (unit tests). */
export const HOST_RESOLVER = Symbol('HOST_RESOLVER');

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * `dns.lookup` that fails when any address the name resolves to is not
 * public. Given to sockets whose target came from outside (an instance URL, an
 * announced streaming_api, a redirect), so that neither a redirect nor a DNS
 * answer that changed since the up-front check can reach a private address.
 */
export function publicOnlyLookup(
  hostname: string,
  options: LookupOptions,
  callback: LookupCallback,
): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    if (addresses.length === 0 || !addresses.every((a) => isPublicAddress(a.address))) {
      return callback(
        new RefusedAddressError(hostname, 'resolves to a loopback, private or link-local address'),
        [],
      );
    }
    if (options.all) return callback(null, addresses);
    return callback(null, addresses[0].address, addresses[0].family);
  });
}

/** Whether a redirect target may be followed: no downgrade to plain text, no literal private address. */
export function redirectAllowed(
  from: URL,
  to: URL,
  guard: boolean,
): { ok: true } | { ok: false; reason: string } {
  const secure = (protocol: string) => protocol === 'https:' || protocol === 'wss:';
  if (secure(from.protocol) && !secure(to.protocol))
    return { ok: false, reason: 'redirect to a plain-text URL refused' };
  if (guard && literalHostIsPublic(to) === false) {
    return { ok: false, reason: 'redirect to a loopback, private or link-local address refused' };
  }
  return { ok: true };
}

interface CachedCheck {
  result: AddressCheck;
  expiresAt: number;
}

/**
 * Checks that a host from outside resolves to public addresses only, cached
 * per host (INSTANCE_INFO_TTL_MS) with concurrent checks of one host shared:
 * ten thousand streams to one instance resolve its name once.
 */
@Injectable()
export class AddressGuardService {
  private readonly cache = new Map<string, CachedCheck>();
  private readonly inFlight = new Map<string, Promise<AddressCheck>>();
  private readonly ttlMs: number;

  constructor(
    @Inject(SETTINGS) settings: Settings,
    @Optional()
    @Inject(HOST_RESOLVER)
    private readonly resolve?: (host: string) => Promise<string[]>,
  ) {
    this.ttlMs = settings.listener.instanceInfoTtlMs;
  }

  async check(url: URL, now = Date.now()): Promise<AddressCheck> {
    const host = url.hostname.toLowerCase();
    const cached = this.cache.get(host);
    if (cached && cached.expiresAt > now) return cached.result;
    const pending = this.inFlight.get(host);
    if (pending) return pending;
    const probe = checkPublicTarget(url, this.resolve)
      .then((result) => {
        this.cache.set(host, { result, expiresAt: Date.now() + this.ttlMs });
        return result;
      })
      .finally(() => this.inFlight.delete(host));
    this.inFlight.set(host, probe);
    return probe;
  }

  /** Throws RefusedAddressError unless `url` resolves to public addresses only. */
  async assertPublic(url: URL, what: string): Promise<void> {
    const result = await this.check(url);
    if (!result.ok) throw new RefusedAddressError(what, result.reason);
  }
}
