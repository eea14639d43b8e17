/**
 * What went wrong with a REST call, as the caller must react to it:
 * `unauthorized` (401: the token is revoked), `forbidden` (403: the token may
 * not read this), `rate_limited` (429, or no requests left), `server` (5xx),
 * `status` (any other unexpected status), `network`, `timeout`, `too_large`,
 * `invalid` (not a usable answer), `refused_address` (the host is not public).
 */
export type MastodonRestFailure =
  | 'unauthorized'
  | 'forbidden'
  | 'rate_limited'
  | 'server'
  | 'status'
  | 'network'
  | 'timeout'
  | 'too_large'
  | 'invalid'
  | 'refused_address';

/** A failed REST call. The message names no secret (no token, no query string). */
export class MastodonRestError extends Error {
  constructor(
    readonly failure: MastodonRestFailure,
    message: string,
    /** The HTTP status, when there was an answer. */
    readonly status?: number,
    /** When asking again makes sense (429's Retry-After or X-RateLimit-Reset), ms since the epoch. */
    readonly retryAt?: number,
  ) {
    super(message);
    this.name = 'MastodonRestError';
  }
}

/** Longest wait a server may impose on us through Retry-After or X-RateLimit-Reset. */
export const MAX_RATE_LIMIT_WAIT_MS = 15 * 60_000;

function header(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  return typeof text === 'string' && text.trim() !== '' ? text.trim() : undefined;
}

/**
 * When the server allows the next request, from `Retry-After` (seconds or an
 * HTTP date) or, when `X-RateLimit-Remaining` is 0, from `X-RateLimit-Reset`
 * (Mastodon sends an ISO 8601 time). Undefined when neither says; capped at
 * MAX_RATE_LIMIT_WAIT_MS so that a wrong clock cannot stop catch-up for hours.
 */
export function rateLimitedUntil(
  headers: Record<string, string | string[] | undefined>,
  now: number,
): number | undefined {
  let at: number | undefined;
  const retryAfter = header(headers['retry-after']);
  if (retryAfter !== undefined) {
    if (/^\d{1,9}$/.test(retryAfter)) at = now + Number(retryAfter) * 1000;
    else if (/^[A-Za-z]{3},? /.test(retryAfter) && !Number.isNaN(Date.parse(retryAfter)))
      at = Date.parse(retryAfter);
  }
  const remaining = header(headers['x-ratelimit-remaining']);
  const reset = header(headers['x-ratelimit-reset']);
  if (
    at === undefined &&
    remaining !== undefined &&
    /^0+$/.test(remaining) &&
    reset !== undefined
  ) {
    const resetAt = Date.parse(reset);
    if (!Number.isNaN(resetAt)) at = resetAt;
  }
  if (at === undefined) return undefined;
  return Math.min(Math.max(at, now), now + MAX_RATE_LIMIT_WAIT_MS);
}
