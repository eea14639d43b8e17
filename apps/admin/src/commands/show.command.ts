import { ClusterReportRepository, PendingDeliveryRepository } from '@app/database';
import { AdminCommand, CommandContext, EXIT, ExitCode } from './command-context';
import { stateLabel, toJson } from './list.command';
import { findSelected, parseSelector, SELECTOR_USAGE } from './registration-selector';
import { duration, isoTime } from './text-table';

/** `show`: one registration with its expiry and the state of its retry queue. */
export const showCommand: AdminCommand = {
  name: 'show',
  summary: 'one registration: key, state, callback, expiry, waiting callbacks',
  help: [
    `usage: npm run admin -- show ${SELECTOR_USAGE} [--json]`,
    '',
    '  --json   one JSON object instead of lines',
    '',
    'The state is what the listener holding it recorded (pending: no listener has',
    'picked it up yet), with since when, its last stream error, when it last relayed',
    'an event and which listener holds it. Exit code 3 when there is no such registration.',
  ].join('\n'),
  options: { json: { type: 'boolean' } },
  checkUsage: ({ positionals }) => void parseSelector(positionals),
  async run({ app, options, positionals, settings, out, err }: CommandContext): Promise<ExitCode> {
    const found = await findSelected(app.get(ClusterReportRepository), positionals);
    if (!found) {
      err('no such registration');
      return EXIT.notFound;
    }
    const head = found.pendingDeliveries > 0 ? await app.get(PendingDeliveryRepository).findHead(found.id) : undefined;
    const expiresAt = found.lastUpdate + settings.registrationTtlHours * 3_600_000;
    const retry = head
      ? {
          oldestReceivedAt: isoTime(head.receivedAt),
          attempts: head.attempts,
          lastError: head.lastError,
          nextAttemptAt: isoTime(head.nextAttemptAt),
        }
      : null;
    if (options.json) {
      out(JSON.stringify({ ...toJson(found), expiresAt: isoTime(expiresAt), retry }));
      return EXIT.done;
    }
    const now = Date.now();
    const when = (ms: number) => `${isoTime(ms)} (${duration(now - ms)} ago)`;
    const endpoint = found.endpoint ?? 'auto (instance_map, else by version)';
    const lines: [string, string][] = [
      ['id', String(found.id)],
      ['instance', found.instanceUrl],
      ['app', found.appId],
      ['tag', found.tag],
      ['state', found.stateSince === null ? stateLabel(found) : `${stateLabel(found)} since ${when(found.stateSince)}`],
      ['stream error', found.lastError ?? '-'],
      ['relayed', found.lastRelayedAt === null ? 'never' : when(found.lastRelayedAt)],
      ['held by', found.heldBy ?? '-'],
      ['endpoint', found.endpointInUse ? `${endpoint}; in use: ${found.endpointInUse}` : endpoint],
      ['callback', found.callbackUrl],
      ['created', isoTime(found.createdAt?.getTime?.())],
      ['renewed', when(found.lastUpdate)],
      ['expires', `${isoTime(expiresAt)}${expiresAt < now && found.state !== 'removed' ? ' (expired: the listener ends it at its next pass)' : ''}`],
      ['token', found.tokenSealed ? 'sealed' : 'plain text (see reencrypt-tokens)'],
      ['waiting', `${found.pendingDeliveries} callback(s) in the retry table`],
    ];
    if (head) {
      lines.push(['oldest', when(head.receivedAt)]);
      lines.push(['attempts', String(head.attempts)]);
      lines.push(['callback error', head.lastError ?? '-']);
      lines.push(['next try', isoTime(head.nextAttemptAt)]);
    }
    const width = Math.max(...lines.map(([label]) => label.length)) + 2;
    for (const [label, value] of lines) out(`${label.padEnd(width)}${value}`);
    return EXIT.done;
  },
};
