import { parseEncryptionKey } from '@app/config';
import { RegistrationRepository } from '@app/database';
import { TokenCipher } from '@app/security';
import { AdminCommand, CommandContext, EXIT, ExitCode, noArguments, UsageError } from './command-context';

/** Rows read per round: each row is then updated on its own, so an interruption loses nothing. */
const BATCH = 200;

export interface ResealCounts {
  sealed: number;
  resealed: number;
  alreadySealed: number;
  /** Changed by the api between our read and our write (renewed, hence sealed with the current key): left as is. */
  changedMeanwhile: number;
  /** Sealed under a key that is neither TOKEN_ENCRYPTION_KEY nor --from-key. */
  unreadable: number;
}

/**
 * `reencrypt-tokens`: seals every plain-text token under TOKEN_ENCRYPTION_KEY,
 * and with --from-key re-seals tokens sealed under that older key. Each row is
 * replaced only if it still holds what was read (compare and set), so running
 * it again, interrupting it, or running it while the api renews rows is safe.
 */
export const reencryptTokensCommand: AdminCommand = {
  name: 'reencrypt-tokens',
  summary: 'seal plain-text tokens under TOKEN_ENCRYPTION_KEY (--from-key: re-seal from an old key)',
  help: [
    'usage: npm run admin -- reencrypt-tokens [--from-key <old key>]',
    '',
    'Seals every access token stored in plain text (written before',
    'TOKEN_ENCRYPTION_KEY was set, or by the original program) under',
    'TOKEN_ENCRYPTION_KEY. With --from-key, tokens sealed under that older key',
    '(64 hex digits or 44 base64 characters) are re-sealed under TOKEN_ENCRYPTION_KEY.',
    'Idempotent and safe to interrupt: run it again until it reports 0 to do.',
    'Prints the counts; exit code 1 when some tokens could not be read with either key.',
  ].join('\n'),
  options: { 'from-key': { type: 'string' } },
  checkUsage({ positionals, options }) {
    noArguments(positionals);
    if (options['from-key'] !== undefined) fromKeyOption(options['from-key']);
  },
  async run({ app, options, settings, out, err }: CommandContext): Promise<ExitCode> {
    if (!settings.tokenEncryptionKey) {
      err('TOKEN_ENCRYPTION_KEY is not set: there is no key to seal the tokens with');
      return EXIT.failed;
    }
    const fromKey = options['from-key'] === undefined ? undefined : fromKeyOption(options['from-key']);
    const counts = await resealTokens(app.get(RegistrationRepository), settings.tokenEncryptionKey, fromKey);
    out(
      `sealed ${counts.sealed} plain token(s), re-sealed ${counts.resealed} from the old key, ` +
        `${counts.alreadySealed} already sealed under TOKEN_ENCRYPTION_KEY, ` +
        `${counts.changedMeanwhile} renewed or removed meanwhile (left as they are), ${counts.unreadable} unreadable`,
    );
    if (counts.unreadable > 0) {
      err(`${counts.unreadable} token(s) are sealed under another key${fromKey ? '' : ' (give it with --from-key)'}`);
      return EXIT.failed;
    }
    return EXIT.done;
  },
};

export async function resealTokens(
  registrations: RegistrationRepository,
  key: Buffer,
  fromKey: Buffer | undefined,
): Promise<ResealCounts> {
  const current = new TokenCipher(key);
  const previous = fromKey ? new TokenCipher(fromKey) : undefined;
  const counts: ResealCounts = { sealed: 0, resealed: 0, alreadySealed: 0, changedMeanwhile: 0, unreadable: 0 };
  let afterId = 0;
  for (;;) {
    const rows = await registrations.findStoredTokensAfter(afterId, BATCH);
    if (rows.length === 0) return counts;
    afterId = rows[rows.length - 1].id;
    for (const { id, stored } of rows) {
      let plain: string;
      let outcome: 'sealed' | 'resealed';
      if (!TokenCipher.isSealed(stored)) {
        plain = stored;
        outcome = 'sealed';
      } else if (opens(current, stored) !== undefined) {
        counts.alreadySealed += 1;
        continue;
      } else {
        const opened = previous ? opens(previous, stored) : undefined;
        if (opened === undefined) {
          counts.unreadable += 1;
          continue;
        }
        plain = opened;
        outcome = 'resealed';
      }
      if (await registrations.replaceStoredToken(id, stored, current.seal(plain))) counts[outcome] += 1;
      else counts.changedMeanwhile += 1;
    }
  }
}

function fromKeyOption(value: string | boolean): Buffer {
  try {
    return parseEncryptionKey('--from-key', String(value));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function opens(cipher: TokenCipher, stored: string): string | undefined {
  try {
    return cipher.open(stored);
  } catch {
    return undefined;
  }
}
