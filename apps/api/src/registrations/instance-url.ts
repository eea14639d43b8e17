export type InstanceUrlCheck = { ok: true; url: string } | { ok: false; reason: string };

const ORIGIN_EXAMPLE = 'such as https://mastodon.example';

/**
 * An instance is named by its origin: http(s), a host and an optional port,
 * nothing else (a trailing slash is tolerated). The normal form is the URL
 * origin: lower-case, no trailing slash, no default port, as instance_map keys are written.
 */
export function checkInstanceUrl(raw: string): InstanceUrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: `must be an http:// or https:// origin ${ORIGIN_EXAMPLE}` };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { ok: false, reason: `must be an http:// or https:// origin ${ORIGIN_EXAMPLE}` };
  }
  if (url.username !== '' || url.password !== '')
    return { ok: false, reason: 'must not contain credentials' };
  // a query or fragment, even an empty one, leaves its `?` or `#` in the text
  if (url.pathname !== '/' || raw.includes('?') || raw.includes('#')) {
    return {
      ok: false,
      reason: `must be an origin without path, query or fragment, ${ORIGIN_EXAMPLE}`,
    };
  }
  const origin = url.origin;
  if (Buffer.byteLength(origin, 'utf8') > 255)
    return { ok: false, reason: 'must be at most 255 bytes (UTF-8)' };
  return { ok: true, url: origin };
}

/** The stored form of an instance_url that passed validation. */
export function normalizeInstanceUrl(raw: string): string {
  const check = checkInstanceUrl(raw);
  if (!check.ok) throw new Error(`instance_url ${check.reason}`);
  return check.url;
}
