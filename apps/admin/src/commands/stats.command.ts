import { ClusterReportRepository } from '@app/database';
import { AdminCommand, CommandContext, EXIT, ExitCode, UsageError } from './command-context';
import { duration, isoTime, textTable } from './text-table';

/** How many failing registrations `stats` lists. */
const FAILING_SHOWN = 20;

/** `stats`: the cluster in numbers, from the database. */
export const statsCommand: AdminCommand = {
  name: 'stats',
  summary: 'registrations by instance and app, the retry queue, failing callbacks',
  help: [
    'usage: npm run admin -- stats [--json]',
    '',
    'Registrations by instance and by app, retry queue depth and the age of its',
    `oldest event, and the ${FAILING_SHOWN} registrations whose callbacks have waited longest.`,
    '',
    '  --json   one JSON object instead of tables',
  ].join('\n'),
  options: { json: { type: 'boolean' } },
  async run({ app, options, positionals, out }: CommandContext): Promise<ExitCode> {
    if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
    const reports = app.get(ClusterReportRepository);
    const [total, byInstance, byApp, retryQueue, failing] = [
      await reports.countRegistrations(),
      await reports.countByInstance(),
      await reports.countByApp(),
      await reports.retryQueue(),
      await reports.findFailing(FAILING_SHOWN),
    ];
    const now = Date.now();
    if (options.json) {
      out(
        JSON.stringify({
          registrations: total,
          byInstance: Object.fromEntries(byInstance.map((c) => [c.key, c.count])),
          byApp: Object.fromEntries(byApp.map((c) => [c.key, c.count])),
          retryQueue: {
            depth: retryQueue.depth,
            registrations: retryQueue.registrations,
            oldestReceivedAt: isoTime(retryQueue.oldestReceivedAt),
            oldestAgeSeconds:
              retryQueue.oldestReceivedAt === null ? null : Math.round((now - retryQueue.oldestReceivedAt) / 1000),
          },
          failing: failing.map((f) => ({ ...f, oldestReceivedAt: isoTime(f.oldestReceivedAt), nextAttemptAt: isoTime(f.nextAttemptAt) })),
        }),
      );
      return EXIT.done;
    }
    out(`registrations: ${total}`);
    out('');
    for (const line of textTable(['instance', 'registrations'], byInstance.map((c) => [c.key, String(c.count)]))) out(line);
    out('');
    for (const line of textTable(['app', 'registrations'], byApp.map((c) => [c.key, String(c.count)]))) out(line);
    out('');
    const oldest =
      retryQueue.oldestReceivedAt === null
        ? ''
        : `, oldest from ${isoTime(retryQueue.oldestReceivedAt)} (${duration(now - retryQueue.oldestReceivedAt)} ago)`;
    out(`retry queue: ${retryQueue.depth} event(s) of ${retryQueue.registrations} registration(s)${oldest}`);
    if (failing.length > 0) {
      out('');
      for (const line of textTable(
        ['id', 'instance', 'app', 'tag', 'waiting', 'oldest', 'attempts', 'last error'],
        failing.map((f) => [
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
