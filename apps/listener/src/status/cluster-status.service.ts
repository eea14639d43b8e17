import { Inject, Injectable } from '@nestjs/common';
import { SETTINGS, Settings } from '@app/config';
import { ClusterReportRepository, CountBy } from '@app/database';
import { MetricsService } from '@app/observability';
import { staleReconcileAfterMs } from '../health/health.controller';
import { ReconcileService } from '../reconcile/reconcile.service';
import { StreamRegistryService } from '../streams/stream-registry.service';

/** How many failing registrations the page lists (oldest backlog first). */
export const FAILING_SHOWN = 50;

export interface ClusterStatus {
  generatedAt: string;
  /** The listener answering this request. */
  listener: {
    streamsOpen: number;
    registrationsHeld: number;
    lastReconcileAt: string | null;
    reconcileFresh: boolean;
  };
  registrations: { total: number; byInstance: CountBy[]; byApp: CountBy[] };
  retryQueue: { depth: number; registrations: number; oldestReceivedAt: string | null; oldestAgeSeconds: number | null };
  failing: {
    id: number;
    instanceUrl: string;
    appId: string;
    tag: string;
    pendingDeliveries: number;
    oldestReceivedAt: string;
    attempts: number;
    lastError: string | null;
    nextAttemptAt: string;
  }[];
  /** Catch-up outcomes counted by this listener since it started (msl_catchup_total). */
  catchUp: CountBy[];
  /** What this database does not record yet, said rather than shown as zero. */
  notRecorded: string[];
}

const NOT_RECORDED = ['listeners and their heartbeats', 'registration states', 'removal counts by reason'];

/** The whole cluster as the database knows it, plus what this listener holds. */
@Injectable()
export class ClusterStatusService {
  constructor(
    private readonly reports: ClusterReportRepository,
    private readonly reconcile: ReconcileService,
    private readonly streams: StreamRegistryService,
    private readonly metrics: MetricsService,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async read(now = Date.now()): Promise<ClusterStatus> {
    const total = await this.reports.countRegistrations();
    const byInstance = await this.reports.countByInstance();
    const byApp = await this.reports.countByApp();
    const queue = await this.reports.retryQueue();
    const failing = await this.reports.findFailing(FAILING_SHOWN);
    const lastSuccess = this.reconcile.lastSuccessAt;
    return {
      generatedAt: new Date(now).toISOString(),
      listener: {
        streamsOpen: this.streams.openCount,
        registrationsHeld: this.streams.size,
        lastReconcileAt: lastSuccess === undefined ? null : new Date(lastSuccess).toISOString(),
        reconcileFresh: this.reconcile.successAgeMs(now) <= staleReconcileAfterMs(this.settings.listener.pollIntervalMs),
      },
      registrations: { total, byInstance, byApp },
      retryQueue: {
        depth: queue.depth,
        registrations: queue.registrations,
        oldestReceivedAt: queue.oldestReceivedAt === null ? null : new Date(queue.oldestReceivedAt).toISOString(),
        oldestAgeSeconds: queue.oldestReceivedAt === null ? null : Math.max(0, Math.round((now - queue.oldestReceivedAt) / 1000)),
      },
      failing: failing.map((f) => ({
        ...f,
        oldestReceivedAt: new Date(f.oldestReceivedAt).toISOString(),
        nextAttemptAt: new Date(f.nextAttemptAt).toISOString(),
      })),
      catchUp: await this.catchUpCounts(),
      notRecorded: NOT_RECORDED,
    };
  }

  private async catchUpCounts(): Promise<CountBy[]> {
    const metric = this.metrics.registry.getSingleMetric('msl_catchup_total');
    const values = (await metric?.get())?.values ?? [];
    return values
      .map((v) => ({ key: String(v.labels.outcome), count: v.value }))
      .sort((a, b) => a.key.localeCompare(b.key));
  }
}
