import { reconnectDelay } from './backoff';

describe('reconnectDelay', () => {
  it('stays between the base and an exponentially growing ceiling, capped at the maximum', () => {
    expect(reconnectDelay(0, 1_000, 300_000, () => 0)).toBe(1_000);
    expect(reconnectDelay(0, 1_000, 300_000, () => 1)).toBe(2_000);
    expect(reconnectDelay(3, 1_000, 300_000, () => 1)).toBe(16_000);
    expect(reconnectDelay(3, 1_000, 300_000, () => 0.5)).toBe(8_500);
    expect(reconnectDelay(20, 1_000, 300_000, () => 1)).toBe(300_000);
    expect(reconnectDelay(1_000, 1_000, 300_000, () => 1)).toBe(300_000);
  });

  it('spreads retries (full jitter) rather than bringing them back in step', () => {
    for (const attempt of [0, 6]) {
      const delays = new Set(Array.from({ length: 50 }, () => reconnectDelay(attempt, 50, 10_000)));
      expect(delays.size).toBeGreaterThan(10);
      for (const delay of delays) expect(delay).toBeGreaterThanOrEqual(50);
    }
  });

  it('never goes above the maximum even when the base is larger', () => {
    expect(reconnectDelay(0, 5_000, 1_000, () => 1)).toBe(1_000);
  });
});
