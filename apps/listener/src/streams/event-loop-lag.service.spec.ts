import { waitFor } from '../../../../test/support/wait-for';
import { EventLoopLagService, LAG_THRESHOLD_MS } from './event-loop-lag.service';

describe('EventLoopLagService', () => {
  let lag: EventLoopLagService;

  beforeEach(() => {
    lag = new EventLoopLagService();
    jest
      .spyOn((lag as unknown as { logger: { log: () => void } }).logger, 'log')
      .mockImplementation(() => undefined);
    lag.onModuleInit();
  });

  afterEach(() => lag.onModuleDestroy());

  it('gives the whole handshake limit while the loop keeps up', () => {
    expect(lag.behind).toBe(false);
    expect(lag.openingLimit(8)).toBe(8);
  });

  it('is behind after a window over the threshold, with a quarter of the limit (at least one), and not after one under it', () => {
    lag.judgeWindow(LAG_THRESHOLD_MS + 1);
    expect(lag.behind).toBe(true);
    expect(lag.openingLimit(8)).toBe(2);
    expect(lag.openingLimit(3)).toBe(1);
    expect(lag.openingLimit(1)).toBe(1);
    lag.judgeWindow(LAG_THRESHOLD_MS);
    expect(lag.behind).toBe(false);
    expect(lag.openingLimit(8)).toBe(8);
  });

  it('says the loop is behind after it was blocked, and caught up once the loop runs freely', async () => {
    // the histogram measures from its first sample on: let it take one
    const histogram = (lag as unknown as { histogram: { count: number } }).histogram;
    await waitFor(() => histogram.count > 0, { what: 'a first sample' });
    // hold the loop well past the threshold, as thousands of handshakes at once do
    const until = Date.now() + 4 * LAG_THRESHOLD_MS;
    while (Date.now() < until) {
      // busy: nothing else runs
    }
    // a loaded machine may keep the loop late for a while: the waits are long, the verdicts are what is tested
    await waitFor(() => lag.behind, { what: 'the loop judged behind', timeoutMs: 60_000 });
    await waitFor(() => !lag.behind, { what: 'the loop judged caught up', timeoutMs: 60_000 });
    expect(lag.openingLimit(8)).toBe(8);
  });
});
