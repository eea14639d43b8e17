import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ListenerHarness } from '../listener/listener-harness';
import { describeWithTool, onPath } from '../required-tool';

const MONITORING = path.resolve(__dirname, '../../monitoring');
const PROMTOOL = onPath('promtool');

/** Metric names of a Prometheus text page: each family, and a histogram's series too. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = match;
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(name + suffix);
  }
  return names;
}

/** The metric names a PromQL expression reads (this project's, Node's process metrics, and `up`). */
function namesIn(expr: string): string[] {
  return [...expr.matchAll(/\b(msl_[a-z0-9_]+|process_[a-z0-9_]+|nodejs_[a-z0-9_]+|up)\b(?=\s*[{[)\s]|$)/g)].map((m) => m[1]);
}

function alertExpressions(): { alert: string; expr: string }[] {
  // the rules file is YAML; its expressions are the block scalars after `expr:` (no YAML parser among the dependencies)
  const text = fs.readFileSync(path.join(MONITORING, 'alerts.yml'), 'utf8');
  const rules: { alert: string; expr: string }[] = [];
  for (const block of text.split(/^\s*- alert: /m).slice(1)) {
    const alert = block.split('\n')[0].trim();
    const expr = /expr: \|?\n?([\s\S]*?)\n\s*for:/.exec(block)?.[1] ?? '';
    rules.push({ alert, expr });
  }
  return rules;
}

describeWithTool('promtool', PROMTOOL !== undefined)('alert rules checked by promtool', () => {
  it('pass promtool check rules', () => {
    const run = spawnSync(PROMTOOL!, ['check', 'rules', 'alerts.yml'], { cwd: MONITORING, encoding: 'utf8' });
    expect(run.stdout + run.stderr).toContain('SUCCESS: 6 rules found');
    expect(run.status).toBe(0);
  });

  it('fire as their unit tests say (promtool test rules)', () => {
    const run = spawnSync(PROMTOOL!, ['test', 'rules', 'alerts.test.yml'], { cwd: MONITORING, encoding: 'utf8' });
    expect({ status: run.status, output: run.stdout + run.stderr }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });
});

describe('dashboard and alerts name only metrics the apps export', () => {
  let h: ListenerHarness;
  let exported: Set<string>;

  beforeAll(async () => {
    h = await ListenerHarness.start({ instances: { alpha: { version: '4.3.0', record: true } } });
    // one event through, so that every family has been touched at least once
    const token = `tok_${randomBytes(8).toString('hex')}`;
    h.fake('alpha').addToken(token);
    await h.registered({ instance: 'alpha', tag: 'metrics-user', token });
    await h.fake('alpha').waitForConnection((c) => c.token === token);
    h.fake('alpha').emit(token, { event: 'notification', payload: JSON.stringify({ id: '1' }) });
    await h.receiver.waitForDelivered(1, '/cb/metrics-user');
    const pages = await Promise.all(
      [`http://127.0.0.1:${h.apiPort}/metrics`, `${h.listenerUrl}/metrics`].map(async (url) => (await fetch(url)).text()),
    );
    exported = new Set([...exportedNames(pages[0]), ...exportedNames(pages[1])]);
    exported.add('up'); // written by Prometheus for every scrape target
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('exports the metrics the README lists (sanity check of the name reader)', () => {
    for (const name of ['msl_callbacks_total', 'msl_callback_latency_seconds_bucket', 'msl_retry_queue_oldest_age_seconds', 'msl_http_requests_total']) {
      expect(exported).toContain(name);
    }
  });

  it('every dashboard query reads metrics the api or the listener export', () => {
    const dashboard = JSON.parse(fs.readFileSync(path.join(MONITORING, 'grafana-dashboard.json'), 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    expect(dashboard.panels.length).toBeGreaterThan(10);
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        const names = namesIn(target.expr);
        expect({ panel: panel.title, expr: target.expr, reads: names.length > 0 }).toEqual({ panel: panel.title, expr: target.expr, reads: true });
        for (const name of names) expect({ panel: panel.title, name, exported: exported.has(name) }).toEqual({ panel: panel.title, name, exported: true });
      }
    }
  });

  it('every alert rule reads metrics the api or the listener export', () => {
    const rules = alertExpressions();
    expect(rules.map((r) => r.alert)).toEqual([
      'MslCallbacksFailing',
      'MslRetryQueueGrowing',
      'MslRetryQueueOld',
      'MslInstanceStreamsFailing',
      'MslReconcileStale',
      'MslListenerDown',
    ]);
    for (const rule of rules) {
      const names = namesIn(rule.expr);
      expect({ alert: rule.alert, reads: names.length > 0 }).toEqual({ alert: rule.alert, reads: true });
      for (const name of names) expect({ alert: rule.alert, name, exported: exported.has(name) }).toEqual({ alert: rule.alert, name, exported: true });
    }
  });
});
