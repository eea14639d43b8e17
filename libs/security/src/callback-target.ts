import { AddressCheck, checkPublicTarget } from './address-policy';

/**
 * A `callbackUrlPrefix` as it is compared: scheme, host and port exactly (no
 * port written after a trailing `:` means any port), then whole path segments.
 * Comparing the strings instead let `…/cb/../admin`, `…/cb/%2e%2e/admin` or a
 * longer host name (`https://push.example.com.evil.example/`) pass.
 */
export interface CallbackPrefix {
  protocol: string;
  hostname: string;
  /** `undefined`: any port; `''`: the scheme's default port, as URL writes it. */
  port: string | undefined;
  segments: string[];
}

export type PrefixParse = { ok: true; prefix: CallbackPrefix } | { ok: false; reason: string };

/** "http://127.0.0.1:" (nothing after the colon): the original program's way of allowing every port of a host. */
const ANY_PORT = /^(https?:\/\/[^/?#@\\]+):(\/[^?#]*)?$/i;

function pathSegments(pathname: string): string[] {
  // Stryker disable next-line MethodExpression: a leading empty segment on both sides compares the same
  return pathname.split('/').slice(1);
}

/**
 * Percent-escapes that a receiver may decode into a separator after we matched
 * the path. Dot segments need no check of their own: URL parsing resolves `.`,
 * `..` and their `%2e` spellings, and the parsed `href` is what is sent.
 */
const ENCODED_SEPARATOR = /%(2f|5c)/i;

function hasUnsafePath(url: URL): boolean {
  return ENCODED_SEPARATOR.test(url.pathname);
}

/** Reads a prefix from app_map.hjson; a prefix that is not an http(s) URL base is refused at load time. */
export function parseCallbackPrefix(text: string): PrefixParse {
  const anyPort = ANY_PORT.exec(text);
  let url: URL;
  try {
    // Stryker disable next-line StringLiteral: a URL without a path has the path "/"
    url = new URL(anyPort ? `${anyPort[1]}${anyPort[2] ?? '/'}` : text);
  } catch {
    return { ok: false, reason: 'is not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { ok: false, reason: 'must be an http:// or https:// URL' };
  if (url.username || url.password) return { ok: false, reason: 'must not contain credentials' };
  // an empty one too ("…/cb?"), which URL drops
  if (text.includes('?') || text.includes('#'))
    return { ok: false, reason: 'must not contain a query or a fragment' };
  if (hasUnsafePath(url))
    return { ok: false, reason: 'must not contain dot segments or encoded slashes' };
  const segments = pathSegments(url.pathname);
  // "/cb/" and "/cb" both name the folder cb: a trailing empty segment does not have to match
  if (segments[segments.length - 1] === '') segments.pop();
  return {
    ok: true,
    prefix: {
      protocol: url.protocol,
      hostname: url.hostname,
      port: anyPort ? undefined : url.port,
      segments,
    },
  };
}

export type CallbackUrlParse = { ok: true; url: URL } | { ok: false; reason: string };

/**
 * Parses and normalises a callback URL (WHATWG: dot segments and `%2e`
 * spellings resolved, backslashes read as slashes, host lower-cased, default
 * port dropped). Its `href` is what is stored and what is matched. Refused:
 * credentials (`user@host`), fragments, and escapes a receiver could decode
 * into a separator after the match (`%2F`, `%5C`).
 */
export function parseCallbackUrl(text: string): CallbackUrlParse {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: 'is not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { ok: false, reason: 'must be an http:// or https:// URL' };
  if (url.username || url.password) return { ok: false, reason: 'must not contain credentials' };
  if (text.includes('#')) return { ok: false, reason: 'must not contain a fragment (#)' };
  if (hasUnsafePath(url))
    return { ok: false, reason: 'must not contain encoded slashes, backslashes or dot segments' };
  return { ok: true, url };
}

function prefixMatches(url: URL, prefix: CallbackPrefix): boolean {
  if (url.protocol !== prefix.protocol || url.hostname !== prefix.hostname) return false;
  if (prefix.port !== undefined && url.port !== prefix.port) return false;
  const segments = pathSegments(url.pathname);
  // a URL with fewer segments misses one: undefined matches no segment
  return prefix.segments.every((segment, index) => segments[index] === segment);
}

function prefixList(prefixes: string | string[] | undefined): string[] {
  if (prefixes === undefined) return [];
  return Array.isArray(prefixes) ? prefixes : [prefixes];
}

/** Prefixes are few and checked before every delivery: each is parsed once. */
const parsedPrefixes = new Map<string, CallbackPrefix | undefined>();
const PREFIX_CACHE_LIMIT = 1_000;

function cachedPrefix(text: string): CallbackPrefix | undefined {
  // Stryker disable next-line ConditionalExpression: a cache; parsing again gives the same prefix
  if (parsedPrefixes.has(text)) return parsedPrefixes.get(text);
  const parsed = parseCallbackPrefix(text);
  // Stryker disable next-line ConditionalExpression,EqualityOperator: bounds the cache's memory only
  if (parsedPrefixes.size >= PREFIX_CACHE_LIMIT) parsedPrefixes.clear();
  parsedPrefixes.set(text, parsed.ok ? parsed.prefix : undefined);
  return parsed.ok ? parsed.prefix : undefined;
}

/** The configured prefix that the parsed, normalised `url` lies under, if any. */
export function matchingPrefix(
  url: URL,
  prefixes: string | string[] | undefined,
): string | undefined {
  return prefixList(prefixes).find((text) => {
    const prefix = cachedPrefix(text);
    return prefix !== undefined && prefixMatches(url, prefix);
  });
}

/**
 * Whether a callback may be POSTed to `url`, for an app configured with
 * `callbackUrlPrefix`. With prefixes, the URL must lie under one of them, and
 * then it is trusted as the operator wrote it (that is how a private address is
 * allowed). Without prefixes, only hosts that resolve to public addresses are.
 * Checked at registration and again before every delivery (DNS can change).
 */
export async function checkCallbackTarget(
  url: string,
  prefixes: string | string[] | undefined,
  resolve?: (host: string) => Promise<string[]>,
): Promise<AddressCheck> {
  const parsed = parseCallbackUrl(url);
  if (!parsed.ok) return parsed;
  if (prefixes !== undefined) {
    return matchingPrefix(parsed.url, prefixes)
      ? { ok: true, addresses: [] }
      : { ok: false, reason: 'does not start with a callbackUrlPrefix configured for this app' };
  }
  return checkPublicTarget(parsed.url, resolve);
}
