import { MetricsService } from './metrics.service';

describe('MetricsService', () => {
  it('gives the same metric for the same name, so two users of one name count together', async () => {
    const metrics = new MetricsService();
    metrics.counter('msl_test_total', 'help', ['outcome']).labels('ok').inc();
    metrics.counter('msl_test_total', 'help', ['outcome']).labels('ok').inc(2);
    expect(metrics.counter('msl_test_total', 'help')).toBe(
      metrics.counter('msl_test_total', 'other help'),
    );
    expect(await metrics.render()).toContain('msl_test_total{outcome="ok"} 3');
    expect(metrics.gauge('msl_test_open', 'help')).toBe(metrics.gauge('msl_test_open', 'help'));
    expect(metrics.histogram('msl_test_seconds', 'help')).toBe(
      metrics.histogram('msl_test_seconds', 'help'),
    );
  });

  it('keeps each app to its own registry', async () => {
    const api = new MetricsService();
    const listener = new MetricsService();
    api.gauge('msl_only_api', 'help').set(1);
    listener.gauge('msl_only_listener', 'help').set(2);
    const apiText = await api.render();
    expect(apiText).toContain('msl_only_api 1');
    expect(apiText).not.toContain('msl_only_listener');
    expect(await listener.render()).toContain('msl_only_listener 2');
  });

  it('renders Prometheus text with the process metrics and HELP lines', async () => {
    const metrics = new MetricsService();
    metrics.histogram('msl_test_latency_seconds', 'how long', ['kind']).labels('a').observe(0.02);
    const text = await metrics.render();
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text).toContain('# HELP msl_test_latency_seconds how long');
    expect(text).toContain('process_cpu_user_seconds_total');
    // the default buckets: 0.02 s falls in 0.025 and above, not in 0.01
    expect(text).toContain('msl_test_latency_seconds_bucket{le="0.01",kind="a"} 0');
    expect(text).toContain('msl_test_latency_seconds_bucket{le="0.025",kind="a"} 1');
    expect(text).toContain('msl_test_latency_seconds_bucket{le="10",kind="a"} 1');
  });

  it('takes other buckets when given', async () => {
    const metrics = new MetricsService();
    metrics.histogram('msl_test_custom_seconds', 'help', [], [1, 2]).observe(1.5);
    const text = await metrics.render();
    expect(text).toContain('msl_test_custom_seconds_bucket{le="1"} 0');
    expect(text).toContain('msl_test_custom_seconds_bucket{le="2"} 1');
    expect(text).not.toContain('msl_test_custom_seconds_bucket{le="0.005"}');
  });
});
