import { DataSource } from 'typeorm';
import { ServerDatabaseSettings, Settings } from '@app/config';
import { dataSourceOptions } from './data-source-options';
import { EmbeddedPostgres } from './embedded/embedded-postgres';
import { withMigrationLock } from './migration-lock';

export interface PreparedDatabase {
  settings: Settings & { database: ServerDatabaseSettings };
  /** Stops the embedded PostgreSQL when this process started it; a no-op otherwise. */
  stop(): Promise<void>;
}

/**
 * Turns the settings into a reachable server: starts the embedded PostgreSQL
 * under ./data when no DB_HOST is given, and applies pending migrations unless
 * DB_MIGRATE=false. Runs before Nest starts so that the api and the listener of
 * one process share one cluster and migrate once.
 */
export async function prepareDatabase(settings: Settings, log: (line: string) => void): Promise<PreparedDatabase> {
  let embedded: EmbeddedPostgres | undefined;
  let database: ServerDatabaseSettings;
  if (settings.database.kind === 'embedded') {
    const embeddedSettings = settings.database;
    embedded = await EmbeddedPostgres.start({
      dataDir: embeddedSettings.dataDir,
      port: embeddedSettings.port,
      log: (line) => {
        if (!line.includes(' LOG: ')) log(line);
      },
    });
    await embedded.ensureDatabase(embeddedSettings.name);
    log(`embedded PostgreSQL ready on 127.0.0.1:${embeddedSettings.port} (data in ${embeddedSettings.dataDir})`);
    database = {
      kind: 'server',
      dialect: 'postgres',
      host: embedded.connection.host,
      port: embedded.connection.port,
      user: embedded.connection.user,
      password: embedded.connection.password,
      name: embeddedSettings.name,
      poolSize: embeddedSettings.poolSize,
      migrate: embeddedSettings.migrate,
    };
  } else {
    database = settings.database;
  }
  const prepared = { ...settings, database };
  try {
    if (database.migrate) await runMigrations(database, log);
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  return { settings: prepared, stop: async () => embedded?.stop() };
}

export async function runMigrations(database: ServerDatabaseSettings, log: (line: string) => void): Promise<void> {
  const dataSource = new DataSource(dataSourceOptions(database));
  await dataSource.initialize();
  try {
    const applied = await withMigrationLock(dataSource, () => dataSource.runMigrations({ transaction: 'each' }));
    for (const migration of applied) log(`migration applied: ${migration.name}`);
  } finally {
    await dataSource.destroy();
  }
}

/** Runs one administrative statement (CREATE/DROP DATABASE) on its own short-lived connection. */
export async function executeOnServer(database: ServerDatabaseSettings, sql: string): Promise<void> {
  const dataSource = new DataSource(dataSourceOptions(database));
  await dataSource.initialize();
  try {
    await dataSource.query(sql);
  } finally {
    await dataSource.destroy();
  }
}
