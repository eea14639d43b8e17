import { ClusterReportRepository, PendingDeliveryRepository } from '@app/database';
import { AdminCommand, CommandContext, EXIT, ExitCode } from './command-context';
import { toJson } from './list.command';
import { findSelected, SELECTOR_USAGE } from './registration-selector';
import { duration, isoTime } from './text-table';

/** `show`: one registration with its expiry and the state of its retry queue. */
export const showCommand: AdminCommand = {
  name: 'show',
  summary: 'one registration: key, callback, expiry, waiting callbacks',
  help: [
    `usage: npm run admin -- show ${SELECTOR_USAGE} [--json]`,
    '',
    '  --json   one JSON object instead of lines',
    '',
    'Exit code 3 when there is no such registration.',
  ].join('\n'),
  options: { json: { type: 'boolean' } },
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
    const lines: [string, string][] = [
      ['id', String(found.id)],
      ['instance', found.instanceUrl],
      ['app', found.appId],
      ['tag', found.tag],
      ['endpoint', found.endpoint ?? 'auto (instance_map, else by version)'],
      ['callback', found.callbackUrl],
      ['created', isoTime(found.createdAt?.getTime?.())],
      ['renewed', `${isoTime(found.lastUpdate)} (${duration(now - found.lastUpdate)} ago)`],
      ['expires', `${isoTime(expiresAt)}${expiresAt < now ? ' (expired, removed at the next poll)' : ''}`],
      ['token', found.tokenSealed ? 'sealed' : 'plain text (see reencrypt-tokens)'],
      ['waiting', `${found.pendingDeliveries} callback(s) in the retry table`],
    ];
    if (head) {
      lines.push(['oldest', `${isoTime(head.receivedAt)} (${duration(now - head.receivedAt)} ago)`]);
      lines.push(['attempts', String(head.attempts)]);
      lines.push(['last error', head.lastError ?? '-']);
      lines.push(['next try', isoTime(head.nextAttemptAt)]);
    }
    for (const [label, value] of lines) out(`${label.padEnd(11)}${value}`);
    return EXIT.done;
  },
};
