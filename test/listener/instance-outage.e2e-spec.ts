import type { ReceivedRequest } from '../support/callback-receiver';
import { waitFor } from '../support/wait-for';
import { ListenerHarness } from './listener-harness';

const STREAMS = 150;
const OUTAGE_MS = 8_000;
/**
 * Far longer than the test may wait: a stream back before its own reconnect
 * delay was reopened by the instance's probe, not by its own backoff.
 */
const RECONNECT_BASE_MS = 120_000;

/** Mastodon ids of the notifications in `requests`, in arrival order. */
function idsOf(requests: ReceivedRequest[]): string[] {
  return requests.map(
    (r) => (JSON.parse((r.json as { payload: string }).payload) as { id: string }).id,
  );
}

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
        // a catch-up that fails on a loaded machine is retried at once, not on the slow reconnects
        CATCHUP_RETRY_BASE_MS: '200',
        CATCHUP_RETRY_MAX_MS: '1000',
        // with reconnects this slow a stream cut by a missed pong on a loaded machine would stay
        // away for minutes: no pings within the test (the outage cuts the sockets itself)
        STREAM_PING_INTERVAL_MS: '600000',
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
    // one notification each before the outage, so that every stream has a cursor
    for (let i = 0; i < STREAMS; i++) h.fake('down').notify(`outage-${i}`);
    await h.receiver.waitForDelivered(STREAMS, undefined, 60_000);
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('probes a down instance once at a time, reopens every stream when it answers and relays what was made meanwhile', async () => {
    const fake = h.fake('down');
    const before = new Map<number, string[]>();
    for (let i = 0; i < STREAMS; i++) before.set(i, idsOf(h.receiver.delivered(`/cb/user-${i}`)));
    const attemptsBefore = fake.upgradeAttempts;
    fake.beginOutage(503);
    const missed = new Map<number, string[]>();
    for (let i = 0; i < STREAMS; i++) missed.set(i, []);
    // notifications keep being made meanwhile, as Mastodon stores them for its REST API;
    // the outage itself lasts a fixed time, nothing is asserted on how long anything took
    for (let second = 0; second < OUTAGE_MS / 1000; second++) {
      for (let i = second % 4; i < STREAMS; i += 4)
        missed.get(i)!.push(fake.notify(`outage-${i}`).key);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
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

    const made = [...missed.values()].reduce((sum, ids) => sum + ids.length, 0);
    await h.receiver.waitForDelivered(STREAMS + made, undefined, 60_000);
    for (let i = 0; i < STREAMS; i++) {
      expect(idsOf(h.receiver.delivered(`/cb/user-${i}`))).toEqual([
        ...before.get(i)!,
        ...missed.get(i)!,
      ]);
    }
  });
});
