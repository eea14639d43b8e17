import { CallbackDeliveryService, newWebhookId } from '@app/callback';
import { ClusterReportRepository, RegistrationRepository } from '@app/database';
import { AdminCommand, CommandContext, EXIT, ExitCode } from './command-context';
import { describeKey, findSelected, parseSelector, SELECTOR_USAGE } from './registration-selector';

/** `test-callback`: one signed `test` event to a registration's callback, and what it answered. */
export const testCallbackCommand: AdminCommand = {
  name: 'test-callback',
  summary: "send a signed test event to a registration's callback and print the answer",
  help: [
    `usage: npm run admin -- test-callback ${SELECTOR_USAGE}`,
    '',
    'POSTs {"instanceUrl","tag","appId","event":"test","payload":"{…}"} to the',
    "registration's callback, signed with the app's webhookSecret exactly as events",
    'are (same address policy and callbackUrlPrefix), once, and prints the status',
    'and the start of the body. Exit code 0 for a 2xx answer, 1 otherwise, 3 when',
    'there is no such registration. Receivers should ignore events they do not know.',
  ].join('\n'),
  options: {},
  checkUsage: ({ positionals }) => void parseSelector(positionals),
  async run({ app, positionals, out, err }: CommandContext): Promise<ExitCode> {
    const found = await findSelected(app.get(ClusterReportRepository), positionals);
    if (!found) {
      err('no such registration');
      return EXIT.notFound;
    }
    // the full callback URL (with its query string) is only in the registration itself
    const registration = await app.get(RegistrationRepository).findById(found.id);
    if (!registration) {
      err(`${describeKey(found)} cannot be used (see the line above)`);
      return EXIT.failed;
    }
    const body = JSON.stringify({
      instanceUrl: registration.instanceUrl,
      tag: registration.tag,
      appId: registration.appId,
      event: 'test',
      payload: JSON.stringify({ message: 'test event sent by an operator', sentAt: new Date().toISOString() }),
    });
    const webhookId = newWebhookId();
    out(`POST ${found.callbackUrl} (${describeKey(found)}, webhook-id ${webhookId})`);
    const result = await app.get(CallbackDeliveryService).probe({
      callbackUrl: registration.callbackUrl,
      appId: registration.appId,
      webhookId,
      body,
    });
    const took = `${Math.round(result.durationMs)} ms`;
    if (result.status !== undefined) {
      out(`answer: HTTP ${result.status} in ${took}`);
      if (result.body) out(result.body);
    } else {
      const reason = result.verdict.kind === 'delivered' || result.verdict.kind === 'gone' ? '' : result.verdict.reason;
      out(`no answer: ${result.verdict.kind === 'refused' ? 'refused' : 'failed'} (${reason}) after ${took}`);
    }
    return result.verdict.kind === 'delivered' ? EXIT.done : EXIT.failed;
  },
};
