import { waitFor } from '../support/wait-for';
import { ListenerHarness } from './listener-harness';

const STREAMS = 150;
const OUTAGE_MS = 8_000;
/**
 * Far longer than the test may wait: a stream back before its own reconnect
 * delay was reopened by the instance's probe, not by its own backoff.
 */
const RECONNECT_BASE_MS = 120_000;

describe('listener: fast, polite recovery from an instance outage (real apps, real database)', () => {
  let h: ListenerHarness;

  beforeAll(async () => {
    h = await ListenerHarness.start({
      instances: { down: { version: '4.3.0', record: false } },
      listenerEnv: {
        STREAM_RECONNECT_BASE_MS: String(RECONNECT_BASE_MS),
        STREAM_RECONNECT_MAX_MS: String(4 * RECONNECT_BASE_MS),
        STREAM_PROBE_BASE_MS: '200',
        STREAM_PROBE_MAX_MS: '1000',
        LOG_LEVEL: 'info',
      },
    });
    for (let i = 0; i < STREAMS; i++) h.fake('down').addToken(`outage-${i}`);
    for (let i = 0; i < STREAMS; i += 25) {
      await Promise.all(
        Array.from({ length: 25 }, (_, j) =>
          h.registered({ instance: 'down', tag: `user-${i + j}`, token: `outage-${i + j}` }),
        ),
      );
    }
    await waitFor(() => h.fake('down').openCount === STREAMS, {
      timeoutMs: 60_000,
      what: `${STREAMS} streams open`,
    });
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('probes a down instance once at a time and reopens every stream when it answers', async () => {
    const fake = h.fake('down');
    const attemptsBefore = fake.upgradeAttempts;
    fake.beginOutage(503);
    // the outage itself lasts a fixed time; nothing is asserted on how long anything took
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    const attemptsDuringOutage = fake.upgradeAttempts - attemptsBefore;
    fake.endOutage();

    expect(attemptsDuringOutage).toBeGreaterThan(0);
    expect(attemptsDuringOutage).toBeLessThan(STREAMS);
    await h.waitForListenerLog('looks unreachable: its streams wait for one probe');
    await waitFor(() => fake.openCount === STREAMS, {
      timeoutMs: RECONNECT_BASE_MS / 4,
      what: `all ${STREAMS} streams back (open: ${fake.openCount})`,
    });
    await h.waitForListenerLog(`answers again after`);
    expect(h.listener.logs).toMatch(
      /answers again after [\d.]+ s: reopening \d+ waiting stream\(s\)/,
    );
  });
});
