import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ServerDatabaseSettings } from '@app/config';
import { dataSourceOptions, executeOnServer, runMigrations } from '@app/database';
import { adminConnection } from './database-server';

/**
 * `text` with "quoted" identifiers and `?` placeholders, as the dialect wants
 * them ($1, $2… on PostgreSQL, backquotes on MySQL/MariaDB).
 */
export function dialectSql(dialect: string, text: string): string {
  let index = 0;
  if (dialect === 'postgres') return text.replace(/\?/g, () => `$${++index}`);
  return text.replace(/"/g, '`');
}

/** A database of its own for one test file, migrated, dropped at the end. */
export interface TestDatabase {
  settings: ServerDatabaseSettings;
  /** DB_* variables that point an app process at this database. */
  env: Record<string, string>;
  /** A TypeORM connection for assertions on the tables. */
  dataSource: DataSource;
  /** Runs `text` written with "quoted" identifiers and `?` placeholders (see dialectSql). */
  query<T = unknown>(text: string, parameters?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const admin = adminConnection();
  const name = `msl_test_${randomBytes(5).toString('hex')}`;
  await executeOnServer(admin, `CREATE DATABASE ${name}`);
  const settings: ServerDatabaseSettings = { ...admin, name, poolSize: 5, migrate: false };
  if (options.migrate !== false) await runMigrations(settings, () => undefined);
  const dataSource = new DataSource(dataSourceOptions(settings));
  await dataSource.initialize();
  const env: Record<string, string> = {
    DB_DIALECT: settings.dialect,
    DB_HOST: settings.host,
    DB_NAME: name,
    DB_MIGRATE: 'false',
  };
  if (settings.port) env.DB_PORT = String(settings.port);
  if (settings.user) env.DB_USER = settings.user;
  if (settings.password) env.DB_PASS = settings.password;
  return {
    settings,
    env,
    dataSource,
    query: (text, parameters) => dataSource.query(dialectSql(settings.dialect, text), parameters),
    drop: async () => {
      await dataSource.destroy();
      await executeOnServer(
        admin,
        admin.dialect === 'postgres' ? `DROP DATABASE IF EXISTS ${name} WITH (FORCE)` : `DROP DATABASE IF EXISTS ${name}`,
      );
    },
  };
}
