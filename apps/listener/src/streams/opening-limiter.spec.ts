import { OpeningLimiter } from './opening-limiter';

describe('OpeningLimiter', () => {
  let granted: string[];
  let limiter: OpeningLimiter<string>;

  beforeEach(() => {
    granted = [];
    limiter = new OpeningLimiter<string>((holder) => granted.push(holder));
  });

  it('admits up to the limit per key and queues the rest in order', () => {
    expect(limiter.acquire('a', 'one', 2)).toBe(true);
    expect(limiter.acquire('a', 'two', 2)).toBe(true);
    expect(limiter.acquire('a', 'three', 2)).toBe(false);
    expect(limiter.acquire('a', 'four', 2)).toBe(false);
    expect(limiter.acquire('b', 'other', 2)).toBe(true);
    expect([limiter.activeCount('a'), limiter.waitingCount('a')]).toEqual([2, 2]);

    limiter.release('a', 'one', 2);
    expect(granted).toEqual(['three']);
    limiter.release('a', 'two', 2);
    expect(granted).toEqual(['three', 'four']);
    expect(limiter.isActive('a', 'four')).toBe(true);
  });

  it('drops a waiting holder that gives up without granting it', () => {
    limiter.acquire('a', 'one', 1);
    limiter.acquire('a', 'two', 1);
    limiter.release('a', 'two', 1);
    limiter.release('a', 'one', 1);
    expect(granted).toEqual([]);
    expect(limiter.activeCount('a')).toBe(0);
    expect(limiter.keysWithWaiting()).toEqual([]);
  });

  it('treats no limit as unlimited and lets waiting holders in when the limit is raised', () => {
    for (const holder of ['x', 'y', 'z'])
      expect(limiter.acquire('u', holder, undefined)).toBe(true);
    limiter.acquire('l', 'one', 1);
    limiter.acquire('l', 'two', 1);
    limiter.acquire('l', 'three', 1);
    expect(limiter.firstWaiting('l')).toBe('two');
    limiter.pump('l', 3);
    expect(granted).toEqual(['two', 'three']);
  });

  it('admits nobody under a limit of 0 (a listener whose part of a limit is nothing)', () => {
    expect(limiter.acquire('z', 'one', 0)).toBe(false);
    limiter.pump('z', 0);
    expect(granted).toEqual([]);
    limiter.pump('z', 1);
    expect(granted).toEqual(['one']);
  });

  it('names the holders activated last beyond a lowered limit, newest first', () => {
    for (const holder of ['one', 'two', 'three', 'four']) limiter.acquire('a', holder, 4);
    expect(limiter.newestOverLimit('a', 2)).toEqual(['four', 'three']);
    expect(limiter.newestOverLimit('a', 4)).toEqual([]);
    expect(limiter.newestOverLimit('a', undefined)).toEqual([]);
  });

  it('is idempotent for a holder already admitted or waiting', () => {
    expect(limiter.acquire('a', 'one', 1)).toBe(true);
    expect(limiter.acquire('a', 'one', 1)).toBe(true);
    expect(limiter.acquire('a', 'two', 1)).toBe(false);
    expect(limiter.acquire('a', 'two', 1)).toBe(false);
    expect(limiter.waitingCount('a')).toBe(1);
    limiter.release('a', 'one', 1);
    limiter.release('a', 'one', 1);
    expect(granted).toEqual(['two']);
  });
});
