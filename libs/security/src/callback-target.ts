import { AddressCheck, checkPublicTarget } from './address-policy';

/** The prefix of `prefixes` that `url` starts with, if any. */
export function matchingPrefix(url: string, prefixes: string | string[] | undefined): string | undefined {
  if (prefixes === undefined) return undefined;
  return (Array.isArray(prefixes) ? prefixes : [prefixes]).find((prefix) => url.startsWith(prefix));
}

/**
 * Whether a callback may be POSTed to `url`, for an app configured with
 * `callbackUrlPrefix`. With prefixes, the URL must start with one of them, and
 * then it is trusted as the operator wrote it (that is how a private address is
 * allowed). Without prefixes, only hosts that resolve to public addresses are.
 * Checked at registration and again before every delivery (DNS can change).
 */
export async function checkCallbackTarget(
  url: string,
  prefixes: string | string[] | undefined,
  resolve?: (host: string) => Promise<string[]>,
): Promise<AddressCheck> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: 'is not a valid URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { ok: false, reason: 'must be an http:// or https:// URL' };
  }
  if (parsed.username || parsed.password) return { ok: false, reason: 'must not contain credentials' };
  if (prefixes !== undefined) {
    return matchingPrefix(url, prefixes)
      ? { ok: true, addresses: [] }
      : { ok: false, reason: 'does not start with a callbackUrlPrefix configured for this app' };
  }
  return checkPublicTarget(parsed, resolve);
}
