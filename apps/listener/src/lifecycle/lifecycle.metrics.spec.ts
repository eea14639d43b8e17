import { MetricsService } from '@app/observability';
import { LifecycleMetrics } from './lifecycle.metrics';

describe('LifecycleMetrics', () => {
  it('counts removals by reason in msl_registrations_removed_total', async () => {
    const metrics = new MetricsService();
    const lifecycle = new LifecycleMetrics(metrics);
    lifecycle.registrationsRemoved('revoked');
    lifecycle.registrationsRemoved('expired', 3);
    lifecycle.registrationsRemoved('expired');
    const text = await metrics.render();
    expect(text).toContain('# TYPE msl_registrations_removed_total counter');
    expect(text).toContain('msl_registrations_removed_total{reason="revoked"} 1');
    expect(text).toContain('msl_registrations_removed_total{reason="expired"} 4');
    expect(text).not.toContain('reason="scope"');
  });
});
