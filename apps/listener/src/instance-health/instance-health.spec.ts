import type { StreamEnd } from '@app/mastodon';
import {
  InstanceHealth,
  OUTAGE_THRESHOLD,
  OUTAGE_WINDOW_MS,
  suggestsOutage,
} from './instance-health';

const KEY = 'https://m.example';

const end = (overrides: Partial<StreamEnd>): StreamEnd => ({
  reason: 'network',
  opened: false,
  deliberate: false,
  detail: 'x',
  ...overrides,
});

describe('suggestsOutage', () => {
  it('counts refused, reset and timed-out connections, 5xx and 429 upgrades and cut open streams', () => {
    expect(suggestsOutage(end({ reason: 'network' }))).toBe(true);
    expect(suggestsOutage(end({ reason: 'timeout' }))).toBe(true);
    expect(suggestsOutage(end({ reason: 'http_status', status: 502 }))).toBe(true);
    expect(suggestsOutage(end({ reason: 'http_status', status: 429 }))).toBe(true);
    expect(suggestsOutage(end({ reason: 'closed', opened: true, code: 1006 }))).toBe(true);
  });

  it('does not count answers that prove the instance is there', () => {
    expect(suggestsOutage(end({ reason: 'unauthorized', status: 401 }))).toBe(false);
    expect(suggestsOutage(end({ reason: 'http_status', status: 404 }))).toBe(false);
    expect(suggestsOutage(end({ reason: 'http_status' }))).toBe(false);
    expect(suggestsOutage(end({ reason: 'closed', opened: false }))).toBe(false);
    expect(suggestsOutage(end({ reason: 'too_large', opened: true }))).toBe(false);
    expect(suggestsOutage(end({ reason: 'refused_address' }))).toBe(false);
  });
});

describe('InstanceHealth', () => {
  let now: number;
  let events: string[];
  let health: InstanceHealth<string>;

  beforeEach(() => {
    jest.useFakeTimers();
    jest.spyOn(Math, 'random').mockReturnValue(0);
    now = 1_000_000;
    events = [];
    health = new InstanceHealth<string>(
      { probeBaseMs: 100, probeMaxMs: 400 },
      {
        instanceDown: (key, holder) => events.push(`down ${key} by ${holder}`),
        probe: (holder) => events.push(`probe ${holder}`),
        reopen: (key, holders, downForMs) =>
          events.push(`reopen ${holders.join(',')} after ${downForMs}`),
      },
      () => now,
    );
  });

  afterEach(() => {
    health.stop();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  function downWith(...holders: string[]): void {
    for (const holder of holders) health.unreachable(KEY, holder);
  }

  it('is down only after several failures with no success in between', () => {
    downWith('a', 'b');
    expect(health.isDown(KEY)).toBe(false);
    health.reachable(KEY);
    downWith('c', 'd');
    expect(health.isDown(KEY)).toBe(false);
    health.unreachable(KEY, 'e');
    expect(health.isDown(KEY)).toBe(true);
    expect(events).toEqual([`down ${KEY} by e`]);
    expect(OUTAGE_THRESHOLD).toBe(3);
  });

  it('does not add up failures further apart than the window', () => {
    downWith('a', 'b');
    now += OUTAGE_WINDOW_MS + 1;
    health.unreachable(KEY, 'c');
    downWith('d');
    expect(health.isDown(KEY)).toBe(false);
    downWith('e');
    expect(health.isDown(KEY)).toBe(true);
  });

  it('lets only the probe connect while down, one probe at a time, with growing delays', () => {
    downWith('a', 'b', 'c');
    for (const holder of ['a', 'b', 'c']) health.wait(KEY, holder);
    expect(health.mayConnect(KEY, 'a')).toBe(false);
    jest.advanceTimersByTime(99);
    expect(events).toEqual([`down ${KEY} by c`]);
    jest.advanceTimersByTime(1);
    expect(events.slice(1)).toEqual(['probe a']);
    expect(health.mayConnect(KEY, 'a')).toBe(true);
    expect(health.mayConnect(KEY, 'b')).toBe(false);
    jest.advanceTimersByTime(10_000);
    expect(events.slice(1)).toEqual(['probe a']);

    // the probe fails and waits again behind the others: the next probe is another holder
    jest.spyOn(Math, 'random').mockReturnValue(1);
    health.unreachable(KEY, 'a');
    health.wait(KEY, 'a');
    jest.advanceTimersByTime(399);
    expect(events.slice(2)).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(events.slice(2)).toEqual(['probe b']);
  });

  it('ends the outage at the first answer and hands over every waiting holder at once', () => {
    downWith('a', 'b', 'c');
    for (const holder of ['a', 'b', 'c', 'd']) health.wait(KEY, holder);
    jest.advanceTimersByTime(100);
    now += 2_500;
    health.reachable(KEY);
    expect(events.slice(1)).toEqual(['probe a', 'reopen b,c,d after 2500']);
    expect(health.isDown(KEY)).toBe(false);
    expect(health.mayConnect(KEY, 'b')).toBe(true);
    jest.advanceTimersByTime(10_000);
    expect(events).toHaveLength(3);
  });

  it('sends another probe when the probing holder is forgotten, and none when nobody waits', () => {
    downWith('a', 'b', 'c');
    health.wait(KEY, 'a');
    health.wait(KEY, 'b');
    jest.advanceTimersByTime(100);
    health.forget(KEY, 'b');
    health.forget(KEY, 'a');
    jest.advanceTimersByTime(10_000);
    expect(events.slice(1)).toEqual(['probe a']);
    health.wait(KEY, 'c');
    jest.advanceTimersByTime(400);
    expect(events.slice(1)).toEqual(['probe a', 'probe c']);
  });

  it('keeps instances apart', () => {
    downWith('a', 'b', 'c');
    expect(health.isDown('https://other.example')).toBe(false);
    expect(health.mayConnect('https://other.example', 'x')).toBe(true);
  });
});
