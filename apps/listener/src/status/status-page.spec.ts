import type { ClusterStatus } from './cluster-status.service';
import { renderStatusPage } from './status-page';

const HOSTILE = '<img src=x onerror="alert(1)">';

function status(overrides: Partial<ClusterStatus> = {}): ClusterStatus {
  return {
    generatedAt: '2026-01-01T12:00:00.000Z',
    listener: { id: 'host-1-aa', streamsOpen: 0, registrationsHeld: 0, lastReconcileAt: null, reconcileFresh: true },
    listeners: [],
    listenerTimeoutMs: 15_000,
    registrations: { total: 0, byState: [], byInstance: [], byApp: [] },
    removedByReason: [],
    retryQueue: { depth: 0, registrations: 0, oldestReceivedAt: null, oldestAgeSeconds: null },
    failingStreams: [],
    failingCallbacks: [],
    catchUp: [],
    ...overrides,
  };
}

describe('renderStatusPage', () => {
  it('escapes what instances and receivers wrote (last errors, tags) instead of rendering it', () => {
    const html = renderStatusPage(
      status({
        failingStreams: [
          { id: 1, instanceUrl: 'https://a.example', appId: 'app', tag: HOSTILE, state: 'retrying', stateSince: null, lastError: HOSTILE, heldBy: null },
        ],
      }),
    );
    expect(html).not.toContain('<img');
    expect(html).toContain('&#60;img src=x onerror=&#34;alert(1)&#34;&#62;');
  });

  it('says there is nothing rather than showing empty tables, and marks catch-up as this listener’s', () => {
    const html = renderStatusPage(status());
    expect(html).toContain('No listener has written a heartbeat yet.');
    expect(html).toContain('No stream is failing.');
    expect(html).toContain('No removed registration is kept.');
    expect(html).toContain('Catch-up after gaps (this listener only, since it started)');
    expect(html).not.toContain('<table>');
  });

  it('gives each instance a column per state some registration is in, in the lifecycle order, zero where it has none', () => {
    const html = renderStatusPage(
      status({
        registrations: {
          total: 3,
          byState: [
            { key: 'pending', count: 1 },
            { key: 'removed', count: 2 },
          ],
          byInstance: [
            { instanceUrl: 'https://a.example', total: 1, byState: { pending: 1 } },
            { instanceUrl: 'https://b.example', total: 2, byState: { removed: 2 } },
          ],
          byApp: [],
        },
      }),
    );
    expect(html).toContain('<th scope="col">instance</th><th scope="col">registrations</th><th scope="col">pending</th><th scope="col">removed</th>');
    expect(html).toContain('<tr><td>https://a.example</td><td>1</td><td>1</td><td>0</td></tr>');
    expect(html).toContain('<tr><td>https://b.example</td><td>2</td><td>0</td><td>2</td></tr>');
  });
});
