import 'reflect-metadata';
import { createApiApp } from '@app/api/api.bootstrap';
import { loadSettingsOrExit } from '@app/config';
import { prepareDatabase } from '@app/database';
import { createListenerApp } from '@app/listener/listener.bootstrap';
import { GracefulShutdown } from '@app/observability';

/**
 * `npm start`: the api and the listener in one process, for small installs.
 * They still share nothing but the database. On shutdown the api stops taking
 * registrations first, then the listener persists what it holds and closes its streams.
 */
async function main(): Promise<void> {
  const settings = loadSettingsOrExit();
  const shutdown = new GracefulShutdown({ timeoutMs: settings.shutdownTimeoutMs });
  const database = await prepareDatabase(settings, (line) => process.stdout.write(`${line}\n`));
  shutdown.after = database.stop;
  try {
    shutdown.track(await createApiApp(database.settings));
    shutdown.track(await createListenerApp(database.settings));
  } catch (error) {
    // PostgreSQL runs in its own process group: exiting would leave it running (a busy port, say)
    await database.stop();
    throw error;
  }
}

main().catch((error: Error) => {
  process.stderr.write(`start-up failed: ${error.message}\n`);
  process.exit(1);
});
