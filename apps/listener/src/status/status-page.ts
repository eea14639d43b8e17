import type { ClusterStatus } from './cluster-status.service';

/** Seconds between reloads of the page (a meta refresh: no script needed). */
export const STATUS_REFRESH_SECONDS = 10;

function escapeHtml(value: string | number | null | undefined): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function ago(iso: string | null, now: number): string {
  if (iso === null) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7_200) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.round(s / 3_600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

/** One section: a heading and a table, or a line saying there is nothing; `id` names it (a link target, a test's handle). */
function table(id: string, caption: string, headers: string[], rows: (string | number)[][], empty: string): string {
  const heading = `<h2>${escapeHtml(caption)}</h2>`;
  if (rows.length === 0) return `<section id="${id}">${heading}<p class="none">${escapeHtml(empty)}</p></section>`;
  const head = headers.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<section id="${id}">${heading}<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div></section>`;
}

function count(counts: { key: string; count: number }[], key: string): number {
  return counts.find((c) => c.key === key)?.count ?? 0;
}

const STYLE = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232b;background:#f5f6f8}
main{max-width:1200px;margin:0 auto;padding:16px}
h1{font-size:1.4em;margin:0 0 4px}h2{font-size:1.1em;margin:24px 0 8px}
.meta{color:#5b6572;margin:0 0 16px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px}
.card{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:12px}
.card b{display:block;font-size:1.6em}.card span{color:#5b6572}
.bad b{color:#b42318}.ok b{color:#067647}
.scroll{overflow-x:auto;background:#fff;border:1px solid #dde1e6;border-radius:8px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #eef0f3;white-space:nowrap}
td:last-child{white-space:normal;min-width:16em}th{background:#f0f2f5;font-weight:600}
.none{color:#5b6572}
`;

/** The status page: server-rendered, readable without any script, refreshed by the browser. */
export function renderStatusPage(status: ClusterStatus): string {
  const now = Date.parse(status.generatedAt);
  const queueOld = status.retryQueue.oldestReceivedAt;
  const byState = status.registrations.byState;
  const failingStreams = count(byState, 'retrying') + count(byState, 'unauthorized');
  const alive = status.listeners.filter((l) => l.liveness === 'alive').length;
  const cards: [string, string | number, string, boolean | undefined][] = [
    ['registrations', status.registrations.total, 'in the database', undefined],
    ['streaming', count(byState, 'streaming'), 'streams open across the cluster', undefined],
    ['failing streams', failingStreams, 'retrying or unauthorized', failingStreams === 0],
    ['listeners', alive, `alive of ${status.listeners.length} with a heartbeat`, alive > 0],
    ['streams open', status.listener.streamsOpen, `of ${status.listener.registrationsHeld} held by this listener`, undefined],
    ['retry queue', status.retryQueue.depth, `events of ${status.retryQueue.registrations} registration(s)`, status.retryQueue.depth === 0],
    ['oldest waiting', queueOld === null ? '-' : ago(queueOld, now), 'in the retry queue', queueOld === null],
    ['last reconcile', ago(status.listener.lastReconcileAt, now), status.listener.reconcileFresh ? 'on time' : 'late: see the listener log', status.listener.reconcileFresh],
  ];
  const cardHtml = cards
    .map(([label, value, note, good]) => {
      const tone = good === undefined ? '' : good ? ' ok' : ' bad';
      return `<div class="card${tone}" data-card="${escapeHtml(label)}"><span>${escapeHtml(label)}</span><b>${escapeHtml(value)}</b><span>${escapeHtml(note)}</span></div>`;
    })
    .join('\n');
  // one column per state that any registration is in, in the lifecycle's order
  const states = byState.map((c) => c.key);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="${STATUS_REFRESH_SECONDS}">
<title>Relay status</title><style>${STYLE}</style></head>
<body><main>
<h1>Mastodon streaming listener</h1>
<p class="meta">Whole cluster, from the database, at ${escapeHtml(status.generatedAt)}, as seen by listener ${escapeHtml(status.listener.id)}; refreshed every ${STATUS_REFRESH_SECONDS} s. Also as <a href="status.json">JSON</a>.</p>
<section class="cards">${cardHtml}</section>
${table(
  'listeners',
  `Listeners (dead: no heartbeat for over ${status.listenerTimeoutMs / 1000} s)`,
  ['listener', 'state', 'last heartbeat', 'streams open', 'started'],
  status.listeners.map((l) => [
    l.id === status.listener.id ? `${l.id} (this one)` : l.id,
    l.liveness,
    ago(l.heartbeatAt, now),
    l.streamsOpen,
    l.startedAt,
  ]),
  'No listener has written a heartbeat yet.',
)}
${table(
  'failing-streams',
  'Failing streams (longest first)',
  ['id', 'instance', 'app', 'tag', 'state', 'since', 'held by', 'last error'],
  status.failingStreams.map((f) => [f.id, f.instanceUrl, f.appId, f.tag, f.state, f.stateSince === null ? '-' : ago(f.stateSince, now), f.heldBy ?? '-', f.lastError ?? '-']),
  'No stream is failing.',
)}
${table(
  'failing-callbacks',
  'Failing callbacks (oldest backlog first)',
  ['id', 'instance', 'app', 'tag', 'waiting', 'oldest', 'attempts', 'next try', 'last error'],
  status.failingCallbacks.map((f) => [f.id, f.instanceUrl, f.appId, f.tag, f.pendingDeliveries, ago(f.oldestReceivedAt, now), f.attempts, f.nextAttemptAt, f.lastError ?? '-']),
  'No callback is failing.',
)}
${table(
  'by-instance',
  'Registrations by instance and state',
  ['instance', 'registrations', ...states],
  status.registrations.byInstance.map((i) => [i.instanceUrl, i.total, ...states.map((s) => i.byState[s] ?? 0)]),
  'No registrations.',
)}
${table('by-state', 'Registrations by state (pending: no listener has picked it up yet)', ['state', 'registrations'], byState.map((c) => [c.key, c.count]), 'No registrations.')}
${table('by-app', 'Registrations by app', ['app', 'registrations'], status.registrations.byApp.map((c) => [c.key, c.count]), 'No registrations.')}
${table('removals', 'Removed registrations still kept, by reason', ['reason', 'registrations'], status.removedByReason.map((c) => [c.key, c.count]), 'No removed registration is kept.')}
${table('catch-up', 'Catch-up after gaps (this listener only, since it started)', ['outcome', 'count'], status.catchUp.map((c) => [c.key, c.count]), 'No catch-up by this listener yet.')}
</main></body></html>
`;
}
