import 'reflect-metadata';
import { loadSettingsOrExit } from '@app/config';
import { prepareDatabase } from '@app/database';
import { GracefulShutdown } from '@app/observability';
import { createApiApp } from './api.bootstrap';

/** `npm run start:api`: the registration API alone. */
async function main(): Promise<void> {
  const settings = loadSettingsOrExit({ aloneAs: 'npm run start:api' });
  const shutdown = new GracefulShutdown({ timeoutMs: settings.shutdownTimeoutMs });
  const database = await prepareDatabase(settings, (line) => process.stdout.write(`${line}\n`));
  shutdown.after = database.stop;
  const app = await createApiApp(database.settings);
  shutdown.track(app);
}

main().catch((error: Error) => {
  process.stderr.write(`start-up failed: ${error.message}\n`);
  process.exit(1);
});
