import 'reflect-metadata';
import { loadSettingsOrExit } from '@app/config';
import { prepareDatabase } from '@app/database';
import { GracefulShutdown } from '@app/observability';
import { createListenerApp } from './listener.bootstrap';

/** `npm run start:listener`: the stream listener alone. */
async function main(): Promise<void> {
  const settings = loadSettingsOrExit({ aloneAs: 'npm run start:listener' });
  const shutdown = new GracefulShutdown({ timeoutMs: settings.shutdownTimeoutMs });
  const database = await prepareDatabase(settings, (line) => process.stdout.write(`${line}\n`));
  shutdown.after = database.stop;
  const app = await createListenerApp(database.settings);
  shutdown.track(app);
}

main().catch((error: Error) => {
  process.stderr.write(`start-up failed: ${error.message}\n`);
  process.exit(1);
});
