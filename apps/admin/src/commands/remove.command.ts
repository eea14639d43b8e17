import { ClusterReportRepository, RegistrationRepository } from '@app/database';
import { AdminCommand, CommandContext, EXIT, ExitCode } from './command-context';
import { describeKey, findSelected, parseSelector, SELECTOR_USAGE } from './registration-selector';

/**
 * `remove`: deletes the row (its waiting callbacks go with it). The listener
 * notices the missing row at its next reconcile pass and closes the stream.
 */
export const removeCommand: AdminCommand = {
  name: 'remove',
  summary: 'delete a registration; its stream closes within one poll',
  help: [
    `usage: npm run admin -- remove ${SELECTOR_USAGE}`,
    '',
    'Deletes the registration and its waiting callbacks. The listener closes its',
    'stream at its next reconcile pass (LISTENER_POLL_INTERVAL_MS). The app server',
    'can register the user again at any time. Exit code 3 when there is no such registration.',
  ].join('\n'),
  options: {},
  checkUsage: ({ positionals }) => void parseSelector(positionals),
  async run({ app, positionals, settings, out, err }: CommandContext): Promise<ExitCode> {
    const found = await findSelected(app.get(ClusterReportRepository), positionals);
    if (!found || !(await app.get(RegistrationRepository).deleteById(found.id))) {
      err('no such registration');
      return EXIT.notFound;
    }
    out(
      `removed ${describeKey(found)}; the listener closes its stream within ${settings.listener.pollIntervalMs} ms`,
    );
    return EXIT.done;
  },
};
