import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { SETTINGS, Settings } from '@app/config';
import { DatabaseHealthService } from '@app/database';
import { ReconcileService } from '../reconcile/reconcile.service';
import { StreamRegistryService } from '../streams/stream-registry.service';

export interface ListenerHealth {
  status: 'ok' | 'error';
  database: 'up' | 'down';
  /** Since the last successful reconcile pass; null before the first. */
  lastReconcileAgeMs: number | null;
  /** Streams open now. */
  streams: number;
}

/** A reconcile pass older than this (or the database down) makes the listener unhealthy. */
export function staleReconcileAfterMs(pollIntervalMs: number): number {
  return Math.max(3 * pollIntervalMs, 30_000);
}

@Controller('health')
export class HealthController {
  private readonly staleAfterMs: number;

  constructor(
    private readonly database: DatabaseHealthService,
    private readonly reconcile: ReconcileService,
    private readonly streams: StreamRegistryService,
    @Inject(SETTINGS) settings: Settings,
  ) {
    this.staleAfterMs = staleReconcileAfterMs(settings.listener.pollIntervalMs);
  }

  /** 200 when the database answers and the reconcile loop is running; 503 otherwise. */
  @Get()
  @Header('Cache-Control', 'no-store')
  async health(@Res({ passthrough: true }) reply: FastifyReply): Promise<ListenerHealth> {
    const databaseUp = await this.database.isReachable();
    const now = Date.now();
    const lastSuccess = this.reconcile.lastSuccessAt;
    const fresh = this.reconcile.successAgeMs(now) <= this.staleAfterMs;
    const healthy = databaseUp && fresh;
    void reply.status(healthy ? 200 : 503);
    return {
      status: healthy ? 'ok' : 'error',
      database: databaseUp ? 'up' : 'down',
      lastReconcileAgeMs: lastSuccess === undefined ? null : now - lastSuccess,
      streams: this.streams.openCount,
    };
  }
}
