import 'reflect-metadata';
import { loadSettingsOrExit } from '@app/config';
import { prepareDatabase } from '@app/database';
import { closeOnSignals } from '@app/observability';
import { createApiApp } from './api.bootstrap';

/** `npm run start:api`: the registration API alone. */
async function main(): Promise<void> {
  const settings = loadSettingsOrExit();
  const database = await prepareDatabase(settings, (line) => process.stdout.write(`${line}\n`));
  const app = await createApiApp(database.settings);
  closeOnSignals([app], { timeoutMs: settings.shutdownTimeoutMs, after: database.stop });
}

main().catch((error: Error) => {
  process.stderr.write(`start-up failed: ${error.message}\n`);
  process.exit(1);
});
