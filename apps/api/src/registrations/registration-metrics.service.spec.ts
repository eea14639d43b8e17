import { MetricsService } from '@app/observability';
import { RegistrationMetrics } from './registration-metrics.service';

async function counted(metrics: MetricsService, action: string, outcome: string): Promise<number> {
  const metric = await metrics.registry.getSingleMetric('msl_registrations_total')?.get();
  return (
    metric?.values.find((v) => v.labels.action === action && v.labels.outcome === outcome)?.value ??
    0
  );
}

describe('RegistrationMetrics', () => {
  let metrics: MetricsService;
  let registrationMetrics: RegistrationMetrics;

  beforeEach(() => {
    metrics = new MetricsService();
    registrationMetrics = new RegistrationMetrics(metrics);
  });

  it('counts outcomes by action', async () => {
    registrationMetrics.record('register', 'created');
    registrationMetrics.record('register', 'created');
    registrationMetrics.record('unregister', 'not_found');
    expect(await counted(metrics, 'register', 'created')).toBe(2);
    expect(await counted(metrics, 'unregister', 'not_found')).toBe(1);
  });

  it.each([
    [400, 'invalid'],
    [413, 'invalid'],
    [415, 'invalid'],
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [503, 'unavailable'],
  ])('counts a %i on a registration route as %s', async (status, outcome) => {
    registrationMetrics.recordRefusal('/unregister', status);
    expect(await counted(metrics, 'unregister', outcome)).toBe(1);
  });

  it('ignores refusals on other routes', async () => {
    registrationMetrics.recordRefusal('unmatched', 404);
    registrationMetrics.recordRefusal('/health', 503);
    registrationMetrics.recordRefusal('__proto__', 400);
    const metric = await metrics.registry.getSingleMetric('msl_registrations_total')?.get();
    expect(metric?.values).toEqual([]);
  });
});
