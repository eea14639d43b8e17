import { parseEncryptionKey } from '@app/config';
import { PushSubscriptionRepository, RegistrationRepository, SealedPushKey } from '@app/database';
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

/** A stored column that TOKEN_ENCRYPTION_KEY seals: read in id order, replaced by compare and set. */
export interface SealedColumn {
  findStoredAfter(afterId: number, limit: number): Promise<{ id: number; stored: string }[]>;
  replaceStored(id: number, expected: string, stored: string): Promise<boolean>;
}

/** Access tokens, then the Web Push subscriptions' private keys and auth secrets. */
function sealedColumns(registrations: RegistrationRepository, subscriptions: PushSubscriptionRepository): SealedColumn[] {
  const pushKey = (column: SealedPushKey): SealedColumn => ({
    findStoredAfter: (afterId, limit) => subscriptions.findSealedKeysAfter(column, afterId, limit),
    replaceStored: (id, expected, stored) => subscriptions.replaceSealedKey(column, id, expected, stored),
  });
  return [
    {
      findStoredAfter: (afterId, limit) => registrations.findStoredTokensAfter(afterId, limit),
      replaceStored: (id, expected, stored) => registrations.replaceStoredToken(id, expected, stored),
    },
    pushKey('privateKey'),
    pushKey('authSecret'),
  ];
}

/**
 * `reencrypt-tokens`: seals every plain-text token (and Web Push key) under
 * TOKEN_ENCRYPTION_KEY, and with --from-key re-seals those sealed under that
 * older key. Each value is replaced only if it still holds what was read
 * (compare and set), so running it again, interrupting it, or running it
 * while the api renews rows is safe.
 */
export const reencryptTokensCommand: AdminCommand = {
  name: 'reencrypt-tokens',
  summary: 'seal plain-text tokens under TOKEN_ENCRYPTION_KEY (--from-key: re-seal from an old key)',
  help: [
    'usage: npm run admin -- reencrypt-tokens [--from-key <old key>]',
    '',
    'Seals every access token stored in plain text (written before',
    'TOKEN_ENCRYPTION_KEY was set, or by the original program) under',
    'TOKEN_ENCRYPTION_KEY, and the private keys and auth secrets of Web Push',
    'subscriptions with them. With --from-key, what is sealed under that older key',
    '(64 hex digits or 44 base64 characters) is re-sealed under TOKEN_ENCRYPTION_KEY.',
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
    const columns = sealedColumns(app.get(RegistrationRepository), app.get(PushSubscriptionRepository));
    const counts = await resealTokens(columns, settings.tokenEncryptionKey, fromKey);
    out(
      `sealed ${counts.sealed} plain token(s) and push key(s), re-sealed ${counts.resealed} from the old key, ` +
        `${counts.alreadySealed} already sealed under TOKEN_ENCRYPTION_KEY, ` +
        `${counts.changedMeanwhile} renewed or removed meanwhile (left as they are), ${counts.unreadable} unreadable`,
    );
    if (counts.unreadable > 0) {
      err(`${counts.unreadable} token(s) or push key(s) are sealed under another key${fromKey ? '' : ' (give it with --from-key)'}`);
      return EXIT.failed;
    }
    return EXIT.done;
  },
};

/** Seals or re-seals every value of `columns`; the counts add up over all of them. */
export async function resealTokens(
  columns: SealedColumn[],
  key: Buffer,
  fromKey: Buffer | undefined,
): Promise<ResealCounts> {
  const current = new TokenCipher(key);
  const previous = fromKey ? new TokenCipher(fromKey) : undefined;
  const counts: ResealCounts = { sealed: 0, resealed: 0, alreadySealed: 0, changedMeanwhile: 0, unreadable: 0 };
  for (const column of columns) await resealColumn(column, current, previous, counts);
  return counts;
}

async function resealColumn(
  column: SealedColumn,
  current: TokenCipher,
  previous: TokenCipher | undefined,
  counts: ResealCounts,
): Promise<void> {
  let afterId = 0;
  for (;;) {
    const rows = await column.findStoredAfter(afterId, BATCH);
    if (rows.length === 0) return;
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
      if (await column.replaceStored(id, stored, current.seal(plain))) counts[outcome] += 1;
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
