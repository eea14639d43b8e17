import { lookup } from 'node:dns/promises';
import * as ipaddr from 'ipaddr.js';

/** Only public unicast addresses are reachable without an operator's permission. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed.range() === 'unicast';
}

function hostOf(url: URL): string {
  // URL keeps IPv6 literals in brackets
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** For an IP literal, whether it is public; for a name, undefined (it has to be resolved). */
export function literalHostIsPublic(url: URL): boolean | undefined {
  const host = hostOf(url);
  if (ipaddr.isValid(host)) return isPublicAddress(host);
  if (host === 'localhost' || host.endsWith('.localhost')) return false;
  return undefined;
}

export type AddressCheck = { ok: true; addresses: string[] } | { ok: false; reason: string };

/**
 * Resolves the URL's host and refuses loopback, private, link-local and other
 * non-public targets. Every resolved address must be public: a name that also
 * resolves to a private address could be steered there.
 */
export async function checkPublicTarget(
  url: URL,
  resolve: (host: string) => Promise<string[]> = resolveAll,
): Promise<AddressCheck> {
  const literal = literalHostIsPublic(url);
  if (literal === false) return { ok: false, reason: 'resolves to a loopback, private or link-local address' };
  if (literal === true) return { ok: true, addresses: [hostOf(url)] };
  let addresses: string[];
  try {
    addresses = await resolve(hostOf(url));
  } catch {
    return { ok: false, reason: 'host name does not resolve' };
  }
  if (addresses.length === 0) return { ok: false, reason: 'host name does not resolve' };
  if (!addresses.every(isPublicAddress)) {
    return { ok: false, reason: 'resolves to a loopback, private or link-local address' };
  }
  return { ok: true, addresses };
}

async function resolveAll(host: string): Promise<string[]> {
  // Stryker disable next-line BooleanLiteral: equivalent, the order of the addresses does not matter (each is checked)
  const results = await lookup(host, { all: true, verbatim: true });
  return results.map((r) => r.address);
}
