import { Logger } from '@nestjs/common';
import type { Counter, Histogram } from 'prom-client';
import { MetricsService } from '@app/observability';
import { CallbackDeliveryService } from './callback-delivery.service';

export type CallbackOutcome =
  'delivered' | 'retry_scheduled' | 'dropped_deadline' | 'dropped_status' | 'gone' | 'refused';

/**
 * Books what happened to events (msl_callbacks_total, the latency histogram,
 * the log lines of dropped events), for the first attempts and the retries alike.
 */
export class CallbackOutcomes {
  private readonly logger = new Logger('CallbackDispatcher');
  private readonly outcomes: Counter<'outcome'>;
  private readonly latency: Histogram;

  constructor(
    metrics: MetricsService,
    private readonly retryDeadlineHours: number,
  ) {
    this.outcomes = metrics.counter(
      'msl_callbacks_total',
      'Callback events by final or intermediate outcome',
      ['outcome'],
    );
    this.latency = metrics.histogram(
      'msl_callback_latency_seconds',
      'From the event arriving from Mastodon to the 2xx answer of the callback',
      [],
      [
        0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1,
        2.5, 5, 10,
      ],
    );
  }

  delivered(receivedAt: number, now: number): void {
    this.count('delivered');
    this.latency.observe(Math.max(now - receivedAt, 0) / 1000);
  }

  dropped(
    registrationId: number,
    callbackUrl: string,
    verdict: { kind: 'drop' | 'refused'; reason: string },
  ): void {
    this.count(verdict.kind === 'refused' ? 'refused' : 'dropped_status');
    this.logger.warn(
      `registration ${registrationId}: callback to ${CallbackDeliveryService.describe(callbackUrl)} ` +
        `${verdict.kind === 'refused' ? 'refused' : 'dropped'}: ${verdict.reason}`,
    );
  }

  droppedAtDeadline(registrationId: number, reason: string): void {
    this.count('dropped_deadline');
    this.logger.warn(
      `registration ${registrationId}: callback dropped, not delivered within ${this.retryDeadlineHours} h (last error: ${reason})`,
    );
  }

  count(outcome: CallbackOutcome): void {
    this.outcomes.inc({ outcome });
  }
}
