import type { FastifyReply } from 'fastify';
import { Settings } from '@app/config';
import { DatabaseHealthService } from '@app/database';
import { strictStub } from '../../../../test/support/strict-stub';
import { ReconcileService } from '../reconcile/reconcile.service';
import { StreamRegistryService } from '../streams/stream-registry.service';
import { HealthController, staleReconcileAfterMs } from './health.controller';

describe('HealthController', () => {
  const NOW = 1_700_000_000_000;
  let reachable: boolean;
  let lastSuccessAt: number | undefined;
  let ageMs: number;
  let status: jest.Mock;
  let controller: HealthController;

  beforeEach(() => {
    jest.useFakeTimers({ now: NOW });
    reachable = true;
    lastSuccessAt = NOW - 400;
    ageMs = 400;
    status = jest.fn();
    controller = new HealthController(
      strictStub<DatabaseHealthService>('DatabaseHealthService', {
        isReachable: async () => reachable,
      }),
      strictStub<ReconcileService>('ReconcileService', {
        get lastSuccessAt() {
          return lastSuccessAt;
        },
        successAgeMs: () => ageMs,
      }),
      strictStub<StreamRegistryService>('StreamRegistryService', { openCount: 12 }),
      { listener: { pollIntervalMs: 5_000 } } as Settings,
    );
  });

  afterEach(() => jest.useRealTimers());

  const reply = () => strictStub<FastifyReply>('FastifyReply', { status: status as never });

  it('is ok while the database answers and reconciling is recent', async () => {
    await expect(controller.health(reply())).resolves.toEqual({
      status: 'ok',
      database: 'up',
      lastReconcileAgeMs: 400,
      streams: 12,
    });
    expect(status).toHaveBeenCalledWith(200);
  });

  it('answers 503 when the database is down', async () => {
    reachable = false;
    await expect(controller.health(reply())).resolves.toMatchObject({
      status: 'error',
      database: 'down',
    });
    expect(status).toHaveBeenCalledWith(503);
  });

  it('answers 503 when the last successful reconcile is older than max(3 polls, 30 s)', async () => {
    expect(staleReconcileAfterMs(5_000)).toBe(30_000);
    expect(staleReconcileAfterMs(20_000)).toBe(60_000);
    ageMs = 30_001;
    lastSuccessAt = NOW - 30_001;
    await expect(controller.health(reply())).resolves.toMatchObject({
      status: 'error',
      database: 'up',
      lastReconcileAgeMs: 30_001,
    });
    expect(status).toHaveBeenCalledWith(503);
  });

  it('reports no age before the first pass, healthy during the start-up grace', async () => {
    lastSuccessAt = undefined;
    ageMs = 1_000;
    await expect(controller.health(reply())).resolves.toMatchObject({
      status: 'ok',
      lastReconcileAgeMs: null,
    });
  });
});
