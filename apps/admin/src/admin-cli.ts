import { parseArgs } from 'node:util';
import { LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Settings } from '@app/config';
import { prepareDatabase } from '@app/database';
import { AdminModule } from './admin.module';
import { AdminCommand, EXIT, ExitCode, UsageError } from './commands/command-context';
import { listCommand } from './commands/list.command';
import { reencryptTokensCommand } from './commands/reencrypt-tokens.command';
import { removeCommand } from './commands/remove.command';
import { showCommand } from './commands/show.command';
import { statsCommand } from './commands/stats.command';
import { testCallbackCommand } from './commands/test-callback.command';

export const COMMANDS: AdminCommand[] = [
  listCommand,
  showCommand,
  removeCommand,
  statsCommand,
  testCallbackCommand,
  reencryptTokensCommand,
];

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: npm run admin -- <command> [arguments] [--help]',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Uses the same environment, .env.production and config/ as the apps, and their database.',
    'Exit codes: 0 done, 1 failed, 2 usage, 3 not found.',
  ].join('\n');
}

/**
 * Nest's own lines (module set-up, "application started") are not for an
 * operator's terminal; warnings and errors go to standard error, leaving
 * standard output to the command's result.
 */
class StderrLogger implements LoggerService {
  constructor(private readonly err: (line: string) => void) {}
  log(): void {}
  debug(): void {}
  verbose(): void {}
  warn(message: unknown): void {
    this.err(`warning: ${String(message)}`);
  }
  error(message: unknown): void {
    this.err(`error: ${String(message)}`);
  }
}

/** Reads the command line, runs one command, returns the exit code. `loadSettings` is called only when a command runs. */
export async function runCli(argv: string[], io: CliIo, loadSettings: () => Settings): Promise<ExitCode> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(overview());
    return EXIT.done;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(name === undefined ? overview() : `unknown command: ${name}\n\n${overview()}`);
    return EXIT.usage;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${command.help}`);
    return EXIT.usage;
  }
  if (parsed.values.help) {
    io.out(command.help);
    return EXIT.done;
  }
  const line = { positionals: parsed.positionals, options: parsed.values as Record<string, string | boolean | undefined> };
  try {
    command.checkUsage?.(line);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`${error.message}\n\n${command.help}`);
    return EXIT.usage;
  }

  const settings = loadSettings();
  // the admin tool reads and writes rows; it never changes the schema (the apps migrate)
  const database = await prepareDatabase({ ...settings, database: { ...settings.database, migrate: false } }, io.err);
  try {
    const app = await NestFactory.createApplicationContext(AdminModule.forRoot(database.settings), {
      logger: new StderrLogger(io.err),
      abortOnError: false,
    });
    try {
      return await command.run({
        ...line,
        app,
        settings: database.settings,
        out: io.out,
        err: io.err,
      });
    } catch (error) {
      if (error instanceof UsageError) {
        io.err(`${error.message}\n\n${command.help}`);
        return EXIT.usage;
      }
      throw error;
    } finally {
      await app.close();
    }
  } finally {
    await database.stop();
  }
}
