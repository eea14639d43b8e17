import * as path from 'node:path';
// the environment reader alone: the lib's index pulls in the hjson maps, whose @app/ imports globalSetup cannot resolve
import { parseSettings } from '../../libs/config/src/environment';
import { DbDialect, ServerDatabaseSettings } from '../../libs/config/src/settings';

/**
 * The database server the end-to-end tests use: the one named by DB_* variables,
 * or, when DB_HOST is unset, an embedded PostgreSQL kept under data/test-postgres
 * (apart from the one `npm start` uses).
 */
export const TEST_EMBEDDED_DIR = path.resolve(__dirname, '../../data/test-postgres');
export const TEST_EMBEDDED_PORT = 5499;

/** Connection to the server for administrative work (creating the per-suite databases). */
export function adminConnection(): ServerDatabaseSettings {
  const fromEnv = process.env.MSL_TEST_DB;
  if (!fromEnv) throw new Error('the e2e global setup has not run (MSL_TEST_DB is unset)');
  return JSON.parse(fromEnv) as ServerDatabaseSettings;
}

export function configuredServer(): ServerDatabaseSettings | undefined {
  if (!process.env.DB_HOST) return undefined;
  const settings = parseSettings(process.env);
  if (settings.database.kind !== 'server') return undefined;
  const dialect: DbDialect = settings.database.dialect;
  // the DB_NAME given is only where the admin connection lands; suites create their own databases
  return { ...settings.database, dialect, name: process.env.DB_NAME ?? (dialect === 'mssql' ? 'master' : 'test') };
}
