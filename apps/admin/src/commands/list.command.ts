import { ClusterReportRepository, RegistrationSummary } from '@app/database';
import { AdminCommand, CommandContext, EXIT, ExitCode, UsageError } from './command-context';
import { storedInstanceUrl } from './registration-selector';
import { isoTime, textTable } from './text-table';

/** `list`: registrations, filtered; never a token or a secret. */
export const listCommand: AdminCommand = {
  name: 'list',
  summary: 'list registrations (no token or secret is ever shown)',
  help: [
    'usage: npm run admin -- list [--instance <url>] [--app <app_id>] [--json]',
    '',
    '  --instance <url>   only registrations of this instance (https://mastodon.example)',
    '  --app <app_id>     only registrations of this app',
    '  --state <state>    only registrations in this state (needs the state columns; refused until they exist)',
    '  --json             one JSON array instead of a table',
  ].join('\n'),
  options: {
    instance: { type: 'string' },
    app: { type: 'string' },
    state: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ app, options, positionals, out }: CommandContext): Promise<ExitCode> {
    if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
    if (options.state !== undefined) {
      throw new UsageError('--state: this database records no registration states');
    }
    const instance = options.instance as string | undefined;
    const rows = await app.get(ClusterReportRepository).findSummaries({
      instanceUrl: instance === undefined ? undefined : storedInstanceUrl(instance),
      appId: options.app as string | undefined,
    });
    if (options.json) {
      out(JSON.stringify(rows.map(toJson)));
      return EXIT.done;
    }
    for (const line of textTable(
      ['id', 'instance', 'app', 'tag', 'endpoint', 'renewed', 'pending', 'token', 'callback'],
      rows.map((r) => [
        String(r.id),
        r.instanceUrl,
        r.appId,
        r.tag,
        r.endpoint ?? 'auto',
        isoTime(r.lastUpdate),
        String(r.pendingDeliveries),
        r.tokenSealed ? 'sealed' : 'plain',
        r.callbackUrl,
      ]),
    ))
      out(line);
    out(`${rows.length} registration(s)`);
    return EXIT.done;
  },
};

/** The JSON shape of a registration in `list --json` and `show --json`. */
export function toJson(r: RegistrationSummary): Record<string, unknown> {
  return {
    id: r.id,
    instanceUrl: r.instanceUrl,
    appId: r.appId,
    tag: r.tag,
    endpoint: r.endpoint,
    callbackUrl: r.callbackUrl,
    lastUpdate: isoTime(r.lastUpdate),
    createdAt: r.createdAt instanceof Date ? r.createdAt.toISOString() : r.createdAt,
    tokenSealed: r.tokenSealed,
    pendingDeliveries: r.pendingDeliveries,
  };
}
