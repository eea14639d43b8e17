/** Mastodon ids are decimal strings; other servers (Pleroma, Akkoma, …) use sortable string ids. */
const NUMERIC_ID = /^[0-9]+$/;

/** Longest id accepted from a server: the cursor column holds 64 characters. */
export const MAX_ID_LENGTH = 64;

/** Whether `value` can be an object id: a non-empty string of printable ASCII, at most 64 characters. */
export function isMastodonId(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= MAX_ID_LENGTH &&
    /^[\x21-\x7e]+$/.test(value)
  );
}

/**
 * Orders two ids: numeric ones as numbers (by length after leading zeros, then
 * digit by digit — exact beyond 2^53, where a float is not), anything else as
 * strings. Negative when `a` is older than `b`.
 */
export function compareMastodonIds(a: string, b: string): number {
  let x = a;
  let y = b;
  if (NUMERIC_ID.test(a) && NUMERIC_ID.test(b)) {
    x = stripZeros(a);
    y = stripZeros(b);
    if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  }
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The newer of two ids, `a` when they are equal; an absent one loses. */
export function newerMastodonId(
  a: string | null | undefined,
  b: string | null | undefined,
): string | null {
  if (a === null || a === undefined) return b ?? null;
  if (b === null || b === undefined) return a;
  return compareMastodonIds(b, a) > 0 ? b : a;
}

function stripZeros(id: string): string {
  let start = 0;
  while (start < id.length - 1 && id.charCodeAt(start) === 48) start += 1;
  return start === 0 ? id : id.slice(start);
}
