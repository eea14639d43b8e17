import { Injectable } from '@nestjs/common';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '@app/observability';

export type StreamFailureLabel =
  | 'unauthorized'
  | 'http_status'
  | 'network'
  | 'timeout'
  | 'closed'
  | 'refused_address'
  | 'instance_info'
  | 'too_large';

/**
 * The listener's metrics (names are part of the contract). Label children are
 * cached: the event counter is touched for every frame.
 */
@Injectable()
export class ListenerMetrics {
  readonly streamsOpen: Gauge<'instance'>;
  readonly connects: Counter<'instance'>;
  readonly reconnects: Counter<'instance'>;
  readonly failures: Counter<'instance' | 'reason'>;
  readonly eventsReceived: Counter<'event'>;
  readonly reconcileDuration: Histogram;
  readonly reconcileLastSuccess: Gauge;
  private readonly eventChildren = new Map<string, Counter.Internal>();

  constructor(metrics: MetricsService) {
    this.streamsOpen = metrics.gauge('msl_streams_open', 'Mastodon streams open now', ['instance']);
    this.connects = metrics.counter('msl_stream_connects_total', 'Mastodon streams that opened', [
      'instance',
    ]);
    this.reconnects = metrics.counter(
      'msl_stream_reconnects_total',
      'Reconnection attempts after a stream failed or closed',
      ['instance'],
    );
    this.failures = metrics.counter(
      'msl_stream_failures_total',
      'Stream connections that failed or closed, by reason',
      ['instance', 'reason'],
    );
    this.eventsReceived = metrics.counter(
      'msl_events_received_total',
      'Streaming frames received, by event',
      ['event'],
    );
    this.reconcileDuration = metrics.histogram(
      'msl_reconcile_duration_seconds',
      'Duration of one reconcile pass with the database',
      [],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    );
    this.reconcileLastSuccess = metrics.gauge(
      'msl_reconcile_last_success_timestamp_seconds',
      'When the last reconcile pass succeeded (seconds since the epoch)',
    );
  }

  /** `label` must come from a bounded set (known event names, "unknown", "malformed"). */
  eventReceived(label: string): void {
    let child = this.eventChildren.get(label);
    if (!child) {
      child = this.eventsReceived.labels(label);
      this.eventChildren.set(label, child);
    }
    child.inc();
  }

  streamFailed(instance: string, reason: StreamFailureLabel): void {
    this.failures.labels(instance, reason).inc();
  }
}
