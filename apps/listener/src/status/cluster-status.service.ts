import { Inject, Injectable } from '@nestjs/common';
import { SETTINGS, Settings } from '@app/config';
import { ClusterReportRepository, CountBy, InstanceStateCounts, ListenerLiveness, listenerAsJson } from '@app/database';
import { MetricsService } from '@app/observability';
import { staleReconcileAfterMs } from '../health/health.controller';
import { MembershipService } from '../membership/membership.service';
import { ReconcileService } from '../reconcile/reconcile.service';
import { StreamRegistryService } from '../streams/stream-registry.service';

/** How many failing registrations the page lists of each kind (longest failing first). */
export const FAILING_SHOWN = 50;

export interface ClusterStatus {
  generatedAt: string;
  /** The listener answering this request. */
  listener: {
    id: string;
    streamsOpen: number;
    registrationsHeld: number;
    lastReconcileAt: string | null;
    reconcileFresh: boolean;
  };
  /** Every listener with a heartbeat row, judged by the membership's rule (see ListenerLiveness). */
  listeners: {
    id: string;
    liveness: ListenerLiveness;
    heartbeatAt: string;
    heartbeatAgeSeconds: number;
    streamsOpen: number;
    startedAt: string;
  }[];
  /** LISTENER_NODE_TIMEOUT_MS: a listener silent longer than this is dead. */
  listenerTimeoutMs: number;
  registrations: {
    total: number;
    /** State → count; `pending`: no listener recorded a state yet. */
    byState: CountBy[];
    byInstance: InstanceStateCounts[];
    byApp: CountBy[];
  };
  /** Removed registrations still kept, by why they ended. */
  removedByReason: CountBy[];
  retryQueue: { depth: number; registrations: number; oldestReceivedAt: string | null; oldestAgeSeconds: number | null };
  /** Streams not relaying (retrying, unauthorized), with the listener's last error. */
  failingStreams: {
    id: number;
    instanceUrl: string;
    appId: string;
    tag: string;
    state: string;
    stateSince: string | null;
    lastError: string | null;
    heldBy: string | null;
  }[];
  /** Registrations whose callbacks wait in the retry queue, oldest backlog first. */
  failingCallbacks: {
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
  /** Catch-up outcomes counted by this listener since it started (msl_catchup_total): not the cluster's. */
  catchUp: CountBy[];
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The whole cluster as the database knows it, plus what this listener holds. */
@Injectable()
export class ClusterStatusService {
  constructor(
    private readonly reports: ClusterReportRepository,
    private readonly reconcile: ReconcileService,
    private readonly streams: StreamRegistryService,
    private readonly membership: MembershipService,
    private readonly metrics: MetricsService,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async read(now = Date.now()): Promise<ClusterStatus> {
    const timeoutMs = this.settings.listener.nodeTimeoutMs;
    const total = await this.reports.countRegistrations();
    const byState = await this.reports.countByState();
    const byInstance = await this.reports.countByInstanceAndState();
    const byApp = await this.reports.countByApp();
    const removedByReason = await this.reports.countRemovedByReason();
    const listeners = await this.reports.findListeners(now, timeoutMs);
    const queue = await this.reports.retryQueue();
    const failingStreams = await this.reports.findFailingStreams(FAILING_SHOWN);
    const failingCallbacks = await this.reports.findFailing(FAILING_SHOWN);
    const lastSuccess = this.reconcile.lastSuccessAt;
    return {
      generatedAt: iso(now),
      listener: {
        id: this.membership.nodeId,
        streamsOpen: this.streams.openCount,
        registrationsHeld: this.streams.size,
        lastReconcileAt: lastSuccess === undefined ? null : iso(lastSuccess),
        reconcileFresh: this.reconcile.successAgeMs(now) <= staleReconcileAfterMs(this.settings.listener.pollIntervalMs),
      },
      listeners: listeners.map((l) => listenerAsJson(l, now)),
      listenerTimeoutMs: timeoutMs,
      registrations: { total, byState, byInstance, byApp },
      removedByReason,
      retryQueue: {
        depth: queue.depth,
        registrations: queue.registrations,
        oldestReceivedAt: queue.oldestReceivedAt === null ? null : iso(queue.oldestReceivedAt),
        oldestAgeSeconds: queue.oldestReceivedAt === null ? null : Math.max(0, Math.round((now - queue.oldestReceivedAt) / 1000)),
      },
      failingStreams: failingStreams.map((f) => ({ ...f, stateSince: f.stateSince === null ? null : iso(f.stateSince) })),
      failingCallbacks: failingCallbacks.map((f) => ({
        ...f,
        oldestReceivedAt: iso(f.oldestReceivedAt),
        nextAttemptAt: iso(f.nextAttemptAt),
      })),
      catchUp: await this.catchUpCounts(),
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
