import { heartbeatFresh, listenerLiveness } from './listener-liveness';

describe('listener liveness', () => {
  const now = 1_000_000;
  const timeoutMs = 15_000;

  it('counts a heartbeat exactly one timeout old as fresh, one millisecond older as not', () => {
    expect(heartbeatFresh({ heartbeatAt: now - timeoutMs }, now, timeoutMs)).toBe(true);
    expect(heartbeatFresh({ heartbeatAt: now - timeoutMs - 1 }, now, timeoutMs)).toBe(false);
  });

  it('is alive when fresh, leaving when fresh and marked leaving, dead when silent (leaving or not)', () => {
    expect(listenerLiveness({ heartbeatAt: now - 1, leaving: 0 }, now, timeoutMs)).toBe('alive');
    expect(listenerLiveness({ heartbeatAt: now - 1, leaving: 1 }, now, timeoutMs)).toBe('leaving');
    expect(listenerLiveness({ heartbeatAt: now - timeoutMs - 1, leaving: 0 }, now, timeoutMs)).toBe('dead');
    expect(listenerLiveness({ heartbeatAt: now - timeoutMs - 1, leaving: 1 }, now, timeoutMs)).toBe('dead');
  });
});
