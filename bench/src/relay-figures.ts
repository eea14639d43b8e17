import * as fs from 'node:fs';
import { LatencySummary, summarize } from './latency-stats';

/** What the receiver counted and timed over one relay run. */
export interface RelayMeasurements {
  sent: number;
  received: number;
  duplicates: number;
  requests: number;
  /** Per received event: its latency (ms) and its sequence number at the instance. */
  latencies: number[];
  sequences: number[];
}

const quantiles = (s: LatencySummary) => ({ p50: s.p50, p95: s.p95, p99: s.p99, max: s.max });

/**
 * The relay figures every stream run reports (one listener or many): events,
 * latency after the warm-up and with it, callback rate; and their table rows.
 */
export function relayFigures(
  m: RelayMeasurements,
  timing: { rate: number; warmup: number; seconds: number; relaySeconds: number },
  round: (n: number) => number,
) {
  // BENCH_LATENCY_FILE=/tmp/l.json keeps every event's latency and sequence number, to see where a tail comes from
  const keep = process.env.BENCH_LATENCY_FILE;
  if (keep) fs.writeFileSync(keep, JSON.stringify({ latencies: m.latencies, sequences: m.sequences }));
  const warmupEvents = timing.rate * timing.warmup;
  const latency = summarize(m.latencies.filter((_, i) => m.sequences[i] >= warmupEvents));
  const withWarmup = summarize(m.latencies);
  const figures = {
    events: {
      sent: m.sent,
      relayed: m.received,
      lost: m.sent - m.received,
      duplicated: m.duplicates,
      relayedPerSecond: round(m.received / (timing.warmup + timing.seconds)),
    },
    latencyMs: quantiles(latency),
    latencyMsIncludingWarmup: quantiles(withWarmup),
    callbackRequestsPerSecond: round(m.requests / timing.relaySeconds),
  };
  const rows: [string, string | number][] = [
    ['events sent / relayed', `${m.sent} / ${m.received}`],
    ['events lost / duplicated', `${figures.events.lost} / ${m.duplicates}`],
    [
      `relay latency p50 / p95 / p99 / max, last ${timing.seconds} s (ms)`,
      `${latency.p50} / ${latency.p95} / ${latency.p99} / ${latency.max}`,
    ],
    [
      `the same including the ${timing.warmup} s warm-up (ms)`,
      `${withWarmup.p50} / ${withWarmup.p95} / ${withWarmup.p99} / ${withWarmup.max}`,
    ],
    ['callback requests per second', figures.callbackRequestsPerSecond],
  ];
  return { figures, rows };
}
