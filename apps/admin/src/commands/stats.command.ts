import { ClusterReportRepository, CountBy, listenerAsJson, REPORTED_STATES, STATE_NOT_RECORDED } from '@app/database';
import { AdminCommand, CommandContext, EXIT, ExitCode, noArguments } from './command-context';
import { duration, isoTime, textTable } from './text-table';

/** How many failing streams, and how many failing callbacks, `stats` lists. */
const FAILING_SHOWN = 20;

/** `stats`: the cluster in numbers, from the database. */
export const statsCommand: AdminCommand = {
  name: 'stats',
  summary: 'registrations by state, instance and app, listeners, the retry queue, what fails',
  help: [
    'usage: npm run admin -- stats [--json]',
    '',
    'Registrations by state, by instance (and state) and by app; removed ones by',
    'the reason they ended; the listeners with their last heartbeat, the streams',
    'each had open then, and whether the cluster counts them alive, leaving or',
    'dead (silent longer than LISTENER_NODE_TIMEOUT_MS, read from this environment);',
    'retry queue depth and the age of its oldest event; the registrations whose',
    `streams have failed longest (retrying, unauthorized; ${FAILING_SHOWN} at most) with their`,
    `last error, and those whose callbacks have waited longest (${FAILING_SHOWN} at most).`,
    '',
    `States: ${REPORTED_STATES.join(', ')}`,
    `(${STATE_NOT_RECORDED}: no listener has picked the registration up yet).`,
    '',
    '  --json   one JSON object instead of tables',
  ].join('\n'),
  options: { json: { type: 'boolean' } },
  checkUsage: ({ positionals }) => noArguments(positionals),
  async run({ app, options, settings, out }: CommandContext): Promise<ExitCode> {
    const reports = app.get(ClusterReportRepository);
    const now = Date.now();
    const timeoutMs = settings.listener.nodeTimeoutMs;
    const [total, byState, byInstance, byApp, removed, listeners, retryQueue, failingStreams, failingCallbacks] = [
      await reports.countRegistrations(),
      await reports.countByState(),
      await reports.countByInstanceAndState(),
      await reports.countByApp(),
      await reports.countRemovedByReason(),
      await reports.findListeners(now, timeoutMs),
      await reports.retryQueue(),
      await reports.findFailingStreams(FAILING_SHOWN),
      await reports.findFailing(FAILING_SHOWN),
    ];
    if (options.json) {
      out(
        JSON.stringify({
          registrations: total,
          byState: record(byState),
          byInstance: Object.fromEntries(byInstance.map((i) => [i.instanceUrl, i.total])),
          byInstanceAndState: Object.fromEntries(byInstance.map((i) => [i.instanceUrl, i.byState])),
          byApp: record(byApp),
          removedByReason: record(removed),
          listeners: listeners.map((l) => listenerAsJson(l, now)),
          listenerTimeoutMs: timeoutMs,
          retryQueue: {
            depth: retryQueue.depth,
            registrations: retryQueue.registrations,
            oldestReceivedAt: isoTime(retryQueue.oldestReceivedAt),
            oldestAgeSeconds:
              retryQueue.oldestReceivedAt === null ? null : Math.round((now - retryQueue.oldestReceivedAt) / 1000),
          },
          failingStreams: failingStreams.map((f) => ({ ...f, stateSince: f.stateSince === null ? null : isoTime(f.stateSince) })),
          failingCallbacks: failingCallbacks.map((f) => ({
            ...f,
            oldestReceivedAt: isoTime(f.oldestReceivedAt),
            nextAttemptAt: isoTime(f.nextAttemptAt),
          })),
        }),
      );
      return EXIT.done;
    }
    const removedTotal = byState.find((c) => c.key === 'removed')?.count ?? 0;
    out(`registrations: ${total}${removedTotal > 0 ? ` (${removedTotal} removed, kept for a while so that their app servers can ask why)` : ''}`);
    out('');
    for (const line of textTable(['state', 'registrations'], byState.map((c) => [c.key, String(c.count)]))) out(line);
    out('');
    const states = REPORTED_STATES.filter((s) => byState.some((c) => c.key === s && c.count > 0));
    for (const line of textTable(
      ['instance', 'registrations', ...states],
      byInstance.map((i) => [i.instanceUrl, String(i.total), ...states.map((s) => String(i.byState[s] ?? 0))]),
    ))
      out(line);
    out('');
    for (const line of textTable(['app', 'registrations'], byApp.map((c) => [c.key, String(c.count)]))) out(line);
    out('');
    if (removed.length > 0) {
      for (const line of textTable(['removed because', 'registrations'], removed.map((c) => [c.key, String(c.count)]))) out(line);
      out('');
    }
    if (listeners.length === 0) out('listeners: none has a heartbeat row (no listener is running)');
    else {
      out(`listeners (dead: no heartbeat for over ${timeoutMs} ms):`);
      for (const line of textTable(
        ['listener', 'state', 'last heartbeat', 'streams open', 'started'],
        listeners.map((l) => [
          l.id,
          l.liveness,
          `${isoTime(l.heartbeatAt)} (${duration(now - l.heartbeatAt)} ago)`,
          String(l.streamsOpen),
          isoTime(l.startedAt),
        ]),
      ))
        out(line);
    }
    out('');
    const oldest =
      retryQueue.oldestReceivedAt === null
        ? ''
        : `, oldest from ${isoTime(retryQueue.oldestReceivedAt)} (${duration(now - retryQueue.oldestReceivedAt)} ago)`;
    out(`retry queue: ${retryQueue.depth} event(s) of ${retryQueue.registrations} registration(s)${oldest}`);
    if (failingStreams.length > 0) {
      out('');
      out('failing streams (longest first):');
      for (const line of textTable(
        ['id', 'instance', 'app', 'tag', 'state', 'since', 'held by', 'last error'],
        failingStreams.map((f) => [
          String(f.id),
          f.instanceUrl,
          f.appId,
          f.tag,
          f.state,
          f.stateSince === null ? '-' : `${duration(now - f.stateSince)} ago`,
          f.heldBy ?? '-',
          f.lastError ?? '-',
        ]),
      ))
        out(line);
    }
    if (failingCallbacks.length > 0) {
      out('');
      out('failing callbacks (oldest backlog first):');
      for (const line of textTable(
        ['id', 'instance', 'app', 'tag', 'waiting', 'oldest', 'attempts', 'last error'],
        failingCallbacks.map((f) => [
          String(f.id),
          f.instanceUrl,
          f.appId,
          f.tag,
          String(f.pendingDeliveries),
          `${duration(now - f.oldestReceivedAt)} ago`,
          String(f.attempts),
          f.lastError ?? '-',
        ]),
      ))
        out(line);
    }
    return EXIT.done;
  },
};

function record(counts: CountBy[]): Record<string, number> {
  return Object.fromEntries(counts.map((c) => [c.key, c.count]));
}
