import { Injectable } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { RemovalReason } from '@app/database';
import { MetricsService } from '@app/observability';

@Injectable()
export class LifecycleMetrics {
  private readonly removed: Counter<'reason'>;

  constructor(metrics: MetricsService) {
    this.removed = metrics.counter(
      'msl_registrations_removed_total',
      'Registrations the listener ended, by reason (revoked, scope, expired, config, gone)',
      ['reason'],
    );
  }

  registrationsRemoved(reason: RemovalReason, count = 1): void {
    this.removed.labels(reason).inc(count);
  }
}
