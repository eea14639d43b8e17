/**
 * Exponential backoff with full jitter, from `baseMs` up to `maxMs`: the n-th
 * retry (n from 0) waits a uniformly random time in [baseMs, min(maxMs, baseMs·2ⁿ⁺¹)],
 * so thousands of streams dropped at once by an instance do not come back in step,
 * not even on the first retry.
 */
export function reconnectDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt + 1, 30));
  const floor = Math.min(baseMs, ceiling);
  return Math.round(floor + random() * (ceiling - floor));
}
