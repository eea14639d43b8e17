import { parseSettings, readEnvironment } from '@app/config';
import { executeOnServer, prepareDatabase } from '@app/database';

export interface BenchDatabase {
  /** DB_* variables for the app processes. */
  env: Record<string, string>;
  dialect: string;
  stop(): Promise<void>;
}

/**
 * A fresh, migrated database for one run: on the server named by DB_* variables,
 * or on an embedded PostgreSQL under data/bench-postgres. Dropped at the end.
 */
export async function createBenchDatabase(log: (line: string) => void): Promise<BenchDatabase> {
  const settings = parseSettings({
    EMBEDDED_PG_DIR: 'data/bench-postgres',
    EMBEDDED_PG_PORT: '5487',
    DB_POOL_SIZE: '20',
    ...readEnvironment(),
  });
  const name = `msl_bench_${Date.now()}`;
  if (settings.database.kind === 'server') {
    await executeOnServer(settings.database, `CREATE DATABASE ${name}`);
  }
  const prepared = await prepareDatabase({ ...settings, database: { ...settings.database, name, migrate: true } }, log);
  const db = prepared.settings.database;
  const env: Record<string, string> = { DB_DIALECT: db.dialect, DB_HOST: db.host, DB_NAME: name, DB_MIGRATE: 'false' };
  if (db.port) env.DB_PORT = String(db.port);
  if (db.user) env.DB_USER = db.user;
  if (db.password) env.DB_PASS = db.password;
  return {
    env,
    dialect: db.dialect,
    stop: async () => {
      const admin = { ...db, name: settings.database.kind === 'server' ? settings.database.name : 'postgres' };
      const force = db.dialect === 'postgres' ? ' WITH (FORCE)' : '';
      await executeOnServer(admin, `DROP DATABASE IF EXISTS ${name}${force}`).catch((error: Error) =>
        log(`could not drop ${name}: ${error.message}`),
      );
      await prepared.stop();
    },
  };
}
