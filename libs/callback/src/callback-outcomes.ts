import { Logger } from '@nestjs/common';
import type { Counter, Histogram } from 'prom-client';
import { MetricsService } from '@app/observability';
import { CallbackDeliveryService } from './callback-delivery.service';

export type CallbackOutcome =
  'delivered' | 'retry_scheduled' | 'dropped_deadline' | 'dropped_status' | 'gone' | 'refused';

/**
 * Books what happened to events (msl_callbacks_total and the latency
 * histogram, by app; the log lines of failing and dropped events), for the
 * first attempts and the retries alike. `app` is a bounded label: only apps of
 * app_map can register.
 */
export class CallbackOutcomes {
  private readonly logger = new Logger('CallbackDispatcher');
  private readonly outcomes: Counter<'outcome' | 'app'>;
  private readonly latency: Histogram<'app'>;
  /**
   * Registrations whose failing callback was said at info: once when it starts
   * failing, once when it delivers again, never once per attempt.
   */
  private readonly failingSaid = new Set<number>();

  constructor(
    metrics: MetricsService,
    private readonly retryDeadlineHours: number,
  ) {
    this.outcomes = metrics.counter(
      'msl_callbacks_total',
      'Callback events by final or intermediate outcome, by app',
      ['outcome', 'app'],
    );
    this.latency = metrics.histogram(
      'msl_callback_latency_seconds',
      'From the event arriving from Mastodon to the 2xx answer of the callback, by app',
      ['app'],
      [
        0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1,
        2.5, 5, 10,
      ],
    );
  }

  delivered(app: string, receivedAt: number, now: number): void {
    this.count('delivered', app);
    this.latency.observe({ app }, Math.max(now - receivedAt, 0) / 1000);
  }

  /** An attempt failed and will be retried: counted each time, said at info the first time only. */
  retryScheduled(registrationId: number, app: string, callbackUrl: string, reason: string): void {
    this.count('retry_scheduled', app);
    if (this.failingSaid.has(registrationId)) {
      this.logger.debug(`registration ${registrationId}: callback failed again (${reason}), will retry`);
      return;
    }
    this.failingSaid.add(registrationId);
    this.logger.log(
      `registration ${registrationId}: callback to ${CallbackDeliveryService.describe(callbackUrl)} failing (${reason}); ` +
        'its events wait in the retry table and are retried with backoff (said once, until it delivers again)',
    );
  }

  /** The registration's retry table backlog is drained: it is back to first attempts from memory. */
  recovered(registrationId: number): void {
    if (this.failingSaid.delete(registrationId)) {
      this.logger.log(`registration ${registrationId}: callback delivers again, its retry table backlog is drained`);
    }
  }

  forget(registrationId: number): void {
    this.failingSaid.delete(registrationId);
  }

  dropped(
    registrationId: number,
    app: string,
    callbackUrl: string,
    verdict: { kind: 'drop' | 'refused'; reason: string },
  ): void {
    this.count(verdict.kind === 'refused' ? 'refused' : 'dropped_status', app);
    this.logger.warn(
      `registration ${registrationId}: callback to ${CallbackDeliveryService.describe(callbackUrl)} ` +
        `${verdict.kind === 'refused' ? 'refused' : 'dropped'}: ${verdict.reason}`,
    );
  }

  droppedAtDeadline(registrationId: number, app: string, reason: string): void {
    this.count('dropped_deadline', app);
    this.logger.warn(
      `registration ${registrationId}: callback dropped, not delivered within ${this.retryDeadlineHours} h (last error: ${reason})`,
    );
  }

  count(outcome: CallbackOutcome, app: string): void {
    this.outcomes.inc({ outcome, app });
  }
}
