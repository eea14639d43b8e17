/** What one attempt's answer means for the event. */
export type AttemptVerdict =
  | { kind: 'delivered' }
  | { kind: 'gone' }
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'drop'; reason: string }
  | { kind: 'refused'; reason: string };

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/**
 * Delay before retry number `attempt` (1 = the first retry): base × 2^(attempt-1),
 * capped, with "equal jitter" (a uniform draw from the upper half) so that
 * receivers that failed together do not get their retries back together.
 */
export function backoffDelayMs(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 40);
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

const MAX_RETRY_AFTER_MS = 365 * 24 * 3_600_000;

/**
 * `Retry-After` as a delay from `now`: delta-seconds or an HTTP date.
 * Undefined when absent or unreadable (the regular backoff applies then).
 */
export function parseRetryAfter(value: unknown, now: number): number | undefined {
  const header: unknown = Array.isArray(value) ? (value as unknown[])[0] : value;
  if (typeof header !== 'string') return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  // HTTP dates always name the weekday and month in letters; this keeps bare numbers and junk out of Date.parse
  if (!/^[A-Za-z]{3},? /.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(at - now, 0), MAX_RETRY_AFTER_MS);
}

/** The meaning of an HTTP status from a callback receiver (redirects are not followed). */
export function verdictForStatus(status: number, retryAfterMs: number | undefined): AttemptVerdict {
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  if (status === 410) return { kind: 'gone' };
  if (status === 408 || status === 429 || status >= 500) {
    return {
      kind: 'retry',
      reason: `HTTP ${status}`,
      retryAfterMs: status === 408 ? undefined : retryAfterMs,
    };
  }
  return { kind: 'drop', reason: `HTTP ${status}` };
}

/**
 * When to try a failed event again, or undefined when its deadline has passed.
 * A delay that would end past the deadline is cut to the deadline itself, which
 * gives the receiver one last chance rather than dropping the event early.
 */
export function nextAttemptAt(
  verdict: { retryAfterMs?: number },
  attempt: number,
  now: number,
  deadlineAt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number | undefined {
  if (now >= deadlineAt) return undefined;
  const delay = verdict.retryAfterMs ?? backoffDelayMs(attempt, options, random);
  return Math.min(now + delay, deadlineAt);
}
