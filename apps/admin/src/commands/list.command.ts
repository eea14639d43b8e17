import {
  ClusterReportRepository,
  isReportedState,
  REPORTED_STATES,
  ReportedState,
  RegistrationSummary,
  STATE_NOT_RECORDED,
} from '@app/database';
import { AdminCommand, CommandContext, EXIT, ExitCode, noArguments, UsageError } from './command-context';
import { storedInstanceUrl } from './registration-selector';
import { isoTime, textTable } from './text-table';

/** `list`: registrations, filtered; never a token or a secret. */
export const listCommand: AdminCommand = {
  name: 'list',
  summary: 'list registrations (no token or secret is ever shown)',
  help: [
    'usage: npm run admin -- list [--instance <url>] [--app <app_id>] [--state <state>] [--json]',
    '',
    '  --instance <url>   only registrations of this instance (https://mastodon.example)',
    '  --app <app_id>     only registrations of this app',
    `  --state <state>    only registrations in this state: ${REPORTED_STATES.join(', ')}`,
    '  --json             one JSON array instead of a table',
    '',
    'States are recorded by the listeners. A registration no listener has picked',
    `up yet (registered while none ran, or within the last poll) shows as ${STATE_NOT_RECORDED}.`,
    'A removed one is kept for a while with the reason it ended, shown beside its state.',
  ].join('\n'),
  options: {
    instance: { type: 'string' },
    app: { type: 'string' },
    state: { type: 'string' },
    json: { type: 'boolean' },
  },
  checkUsage({ positionals, options }) {
    noArguments(positionals);
    const state = options.state as string | undefined;
    if (state !== undefined && !isReportedState(state)) {
      throw new UsageError(`--state: unknown state "${state}"; one of ${REPORTED_STATES.join(', ')}`);
    }
  },
  async run({ app, options, out }: CommandContext): Promise<ExitCode> {
    const state = options.state as ReportedState | undefined;
    const instance = options.instance as string | undefined;
    const rows = await app.get(ClusterReportRepository).findSummaries({
      instanceUrl: instance === undefined ? undefined : storedInstanceUrl(instance),
      appId: options.app as string | undefined,
      state,
    });
    if (options.json) {
      out(JSON.stringify(rows.map(toJson)));
      return EXIT.done;
    }
    for (const line of textTable(
      ['id', 'instance', 'app', 'tag', 'state', 'endpoint', 'renewed', 'waiting', 'token', 'callback'],
      rows.map((r) => [
        String(r.id),
        r.instanceUrl,
        r.appId,
        r.tag,
        stateLabel(r),
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
    state: r.state,
    stateSince: r.stateSince === null ? null : isoTime(r.stateSince),
    removalReason: r.removalReason,
    lastError: r.lastError,
    lastRelayedAt: r.lastRelayedAt === null ? null : isoTime(r.lastRelayedAt),
    heldBy: r.heldBy,
    endpointInUse: r.endpointInUse,
  };
}

/** The state as a table shows it: a removed registration with the reason it ended. */
export function stateLabel(r: Pick<RegistrationSummary, 'state' | 'removalReason'>): string {
  return r.state === 'removed' && r.removalReason ? `removed (${r.removalReason})` : r.state;
}
