import { backoffDelayMs, nextAttemptAt, parseRetryAfter, verdictForStatus } from './retry-policy';

const options = { baseMs: 1_000, maxMs: 600_000 };

describe('backoffDelayMs', () => {
  it('doubles per attempt from the base, jittered within the upper half', () => {
    expect(backoffDelayMs(1, options, () => 0)).toBe(500);
    expect(backoffDelayMs(1, options, () => 1)).toBe(1_000);
    expect(backoffDelayMs(2, options, () => 1)).toBe(2_000);
    expect(backoffDelayMs(4, options, () => 0.5)).toBe(6_000);
  });

  it('is capped at the maximum however many attempts failed', () => {
    expect(backoffDelayMs(11, options, () => 1)).toBe(600_000);
    expect(backoffDelayMs(5_000, options, () => 1)).toBe(600_000);
    expect(backoffDelayMs(5_000, options, () => 0)).toBe(300_000);
  });

  it('treats attempt numbers below 1 as the first retry', () => {
    expect(backoffDelayMs(0, options, () => 1)).toBe(1_000);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');

  it('reads delta-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter(['3', '9'], now)).toBe(3_000);
  });

  it('reads an HTTP date as the time left until it', () => {
    expect(parseRetryAfter('Wed, 01 May 2024 12:00:30 GMT', now)).toBe(30_000);
    // a sender that drops the comma after the weekday is still understood
    expect(parseRetryAfter('Wed 01 May 2024 12:00:30 GMT', now)).toBe(30_000);
  });

  it('reads a date in the past as "now"', () => {
    expect(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', now)).toBe(0);
  });

  it('ignores what is absent or unreadable', () => {
    for (const value of [
      undefined,
      '',
      'soon',
      '-5',
      '1.5',
      '2024-05-01',
      'Wed, 99 Foo 2024 nonsense',
      // junk before a date, which Date.parse alone would accept
      'x Wed, 01 May 2024 12:00:30 GMT',
      42,
    ]) {
      expect(parseRetryAfter(value, now)).toBeUndefined();
    }
  });

  it('caps absurd values at one year', () => {
    expect(parseRetryAfter('99999999999999', now)).toBe(365 * 24 * 3_600_000);
  });
});

describe('verdictForStatus', () => {
  it.each([200, 201, 202, 204, 299])('%i is delivered', (status) => {
    expect(verdictForStatus(status, undefined)).toEqual({ kind: 'delivered' });
  });

  it('410 means the registration is gone', () => {
    expect(verdictForStatus(410, undefined)).toEqual({ kind: 'gone' });
  });

  it.each([408, 429, 500, 502, 503, 504, 599])('%i is retried', (status) => {
    expect(verdictForStatus(status, 5_000)).toMatchObject({
      kind: 'retry',
      reason: `HTTP ${status}`,
    });
  });

  it('keeps Retry-After for 429 and 5xx', () => {
    expect(verdictForStatus(429, 5_000)).toMatchObject({ retryAfterMs: 5_000 });
    expect(verdictForStatus(503, 7_000)).toMatchObject({ retryAfterMs: 7_000 });
  });

  it('ignores Retry-After on 408: the regular backoff applies', () => {
    expect(verdictForStatus(408, 5_000)).toEqual({
      kind: 'retry',
      reason: 'HTTP 408',
      retryAfterMs: undefined,
    });
  });

  it.each([100, 300, 301, 302, 304, 400, 401, 403, 404, 413, 422])('%i is dropped', (status) => {
    expect(verdictForStatus(status, undefined)).toEqual({ kind: 'drop', reason: `HTTP ${status}` });
  });
});

describe('nextAttemptAt', () => {
  const now = 1_000_000;

  it('uses the backoff when the receiver did not say', () => {
    expect(nextAttemptAt({}, 3, now, now + 3_600_000, options, () => 1)).toBe(now + 4_000);
  });

  it('uses Retry-After when given, even when it is longer than the backoff', () => {
    expect(
      nextAttemptAt({ retryAfterMs: 120_000 }, 1, now, now + 3_600_000, options, () => 1),
    ).toBe(now + 120_000);
  });

  it('never schedules past the deadline: the last attempt is at the deadline', () => {
    expect(nextAttemptAt({ retryAfterMs: 7_200_000 }, 1, now, now + 60_000, options)).toBe(
      now + 60_000,
    );
    expect(nextAttemptAt({}, 30, now, now + 1_000, options)).toBe(now + 1_000);
  });

  it('gives up once the deadline is reached', () => {
    expect(nextAttemptAt({}, 1, now, now, options)).toBeUndefined();
    expect(nextAttemptAt({ retryAfterMs: 0 }, 1, now, now - 1, options)).toBeUndefined();
  });
});
