import type { INestApplicationContext } from '@nestjs/common';
import type { Settings } from '@app/config';

/** How a command ended; the process exits with this code. */
export const EXIT = { done: 0, failed: 1, usage: 2, notFound: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A wrong command line: printed with the command's usage, exit code 2. */
export class UsageError extends Error {}

/** For the commands that take no positional argument. */
export function noArguments(positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
}

/** What a command gets: the parsed command line, the Nest context and where to print. */
export interface CommandContext {
  positionals: string[];
  options: Record<string, string | boolean | undefined>;
  app: INestApplicationContext;
  settings: Settings;
  /** Standard output: results (tables, JSON). */
  out: (line: string) => void;
  /** Standard error: diagnostics. */
  err: (line: string) => void;
}

export interface AdminCommand {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Full `--help` text: usage line, then the options. */
  help: string;
  /** Options this command accepts (node:util parseArgs shape). */
  options: Record<string, { type: 'string' | 'boolean' }>;
  /**
   * Checks the command line before anything connects (throws UsageError), so
   * that a mistyped command answers 2 at once, whether the database is up or not.
   */
  checkUsage?(line: Pick<CommandContext, 'positionals' | 'options'>): void;
  run(context: CommandContext): Promise<ExitCode>;
}
