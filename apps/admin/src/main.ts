import 'reflect-metadata';
import { loadSettingsOrExit } from '@app/config';
import { runCli } from './admin-cli';
import { EXIT } from './commands/command-context';

/** `npm run admin -- <command>`: the operator's command line. */
runCli(
  process.argv.slice(2),
  { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) },
  loadSettingsOrExit,
).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`failed: ${error.message}\n`);
    process.exit(EXIT.failed);
  },
);
