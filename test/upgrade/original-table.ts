import { DataSource } from 'typeorm';

/**
 * The table as the original mastodon-streaming-listener (Sequelize) created it,
 * per dialect: test fixture only, the project's own migrations are portable.
 */
export async function createOriginalTable(dataSource: DataSource, withUniqueIndex: boolean): Promise<void> {
  const type = dataSource.options.type;
  if (type === 'postgres') {
    await dataSource.query(
      `CREATE TABLE "stream_listener_registrations" ("id" SERIAL, "lastUpdate" BIGINT DEFAULT 0, "instanceUrl" VARCHAR(255), "accessToken" VARCHAR(255), "appId" VARCHAR(255), "appSecret" VARCHAR(255), "callbackUrl" VARCHAR(255), "tag" VARCHAR(255), "endpoint" VARCHAR(255), "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY ("id"))`,
    );
    if (withUniqueIndex) {
      await dataSource.query(`CREATE UNIQUE INDEX "iat" ON "stream_listener_registrations" ("instanceUrl", "appId", "tag")`);
    }
  } else {
    await dataSource.query(
      'CREATE TABLE `stream_listener_registrations` (`id` INTEGER NOT NULL auto_increment , `lastUpdate` BIGINT DEFAULT 0, `instanceUrl` VARCHAR(255), `accessToken` VARCHAR(255), `appId` VARCHAR(255), `appSecret` VARCHAR(255), `callbackUrl` VARCHAR(255), `tag` VARCHAR(255), `endpoint` VARCHAR(255), `createdAt` DATETIME NOT NULL, `updatedAt` DATETIME NOT NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB',
    );
    if (withUniqueIndex) {
      await dataSource.query('ALTER TABLE `stream_listener_registrations` ADD UNIQUE INDEX `iat` (`instanceUrl`, `appId`, `tag`)');
    }
  }
}

export interface OriginalRow {
  lastUpdate: number;
  instanceUrl: string;
  accessToken: string;
  appId: string;
  appSecret: string;
  callbackUrl: string;
  tag: string;
  endpoint: string | null;
}

/** Inserts a row the way Sequelize did: every column written by the program, secrets in plain text. */
export async function insertOriginalRow(dataSource: DataSource, row: OriginalRow): Promise<void> {
  const q = (name: string) => dataSource.driver.escape(name);
  const columns = Object.keys(row);
  const now = new Date();
  const values = [...Object.values(row), now, now];
  const placeholders = values.map((_, i) => (dataSource.options.type === 'postgres' ? `$${i + 1}` : '?'));
  await dataSource.query(
    `INSERT INTO ${q('stream_listener_registrations')} (${[...columns, 'createdAt', 'updatedAt'].map(q).join(', ')}) VALUES (${placeholders.join(', ')})`,
    values,
  );
}
