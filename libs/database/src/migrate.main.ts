import 'reflect-metadata';
import { loadSettingsOrExit } from '@app/config';
import { prepareDatabase } from './database-setup';

/** `npm run migration:run`: applies pending migrations (starting the embedded server when no DB_HOST is set). */
async function main(): Promise<void> {
  const settings = loadSettingsOrExit();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const database = await prepareDatabase({ ...settings, database: { ...settings.database, migrate: true } }, log);
  log('migrations are up to date');
  await database.stop();
}

main().catch((error: Error) => {
  process.stderr.write(`migration failed: ${error.message}\n`);
  process.exit(1);
});
