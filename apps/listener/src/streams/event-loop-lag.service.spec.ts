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

  it('says the loop is behind after it was blocked, gives a quarter of the limit (at least one), and all of it once the loop runs freely', async () => {
    // hold the loop well past the threshold, as thousands of handshakes at once do
    const until = Date.now() + 4 * LAG_THRESHOLD_MS;
    while (Date.now() < until) {
      // busy: nothing else runs
    }
    // a loaded machine may keep the loop late for a while: the waits are long, the verdicts are what is tested
    await waitFor(() => lag.behind, { what: 'the loop judged behind', timeoutMs: 60_000 });
    expect(lag.openingLimit(8)).toBe(2);
    expect(lag.openingLimit(1)).toBe(1);
    await waitFor(() => !lag.behind, { what: 'the loop judged caught up', timeoutMs: 60_000 });
    expect(lag.openingLimit(8)).toBe(8);
  });
});
