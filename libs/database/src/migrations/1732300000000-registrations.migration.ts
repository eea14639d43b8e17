import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';
import { hashSecret, isHashedSecret } from '@app/security';
import { REGISTRATION_KEY_INDEX, REGISTRATIONS_TABLE } from '../entities/registration.entity';
import { columnTypes } from './column-types';

const KEY = ['instanceUrl', 'appId', 'tag'];
const LAST_UPDATE_INDEX = 'stream_listener_registrations_last_update';

interface KeyRow {
  id: number | string;
  instanceUrl: string | null;
  appId: string | null;
  tag: string | null;
  lastUpdate: number | string | null;
}

/** Reads whole columns of the registrations table with identifiers quoted for the current dialect. */
async function selectColumns(queryRunner: QueryRunner, columns: string[]): Promise<unknown[]> {
  const q = (name: string) => queryRunner.connection.driver.escape(name);
  const list = columns.map((c) => `${q(c)} AS ${q(c)}`).join(', ');
  return (await queryRunner.query(`SELECT ${list} FROM ${q(REGISTRATIONS_TABLE)}`)) as unknown[];
}

/**
 * Widens a string column keeping its values. TypeORM's changeColumn drops and
 * re-adds a column whose length changes on some dialects, losing the data, so
 * the values are copied through a new column instead.
 */
async function widenColumn(queryRunner: QueryRunner, name: string, length: number): Promise<void> {
  const t = columnTypes(queryRunner);
  const q = (identifier: string) => queryRunner.connection.driver.escape(identifier);
  const wide = `${name}Wide`;
  await queryRunner.addColumn(REGISTRATIONS_TABLE, new TableColumn(t.string(wide, length, true)));
  await queryRunner.query(`UPDATE ${q(REGISTRATIONS_TABLE)} SET ${q(wide)} = ${q(name)}`);
  await queryRunner.dropColumn(REGISTRATIONS_TABLE, name);
  await queryRunner.renameColumn(REGISTRATIONS_TABLE, wide, name);
}

/**
 * Creates `stream_listener_registrations`, or upgrades in place the table the
 * original program (Sequelize) created: every row is kept, rows duplicated on
 * (instanceUrl, appId, tag) are merged keeping the newest, missing columns and
 * the unique index are added, and plain-text app secrets are replaced by hashes.
 */
export class Registrations1732300000000 implements MigrationInterface {
  name = 'Registrations1732300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    const existing = await queryRunner.getTable(REGISTRATIONS_TABLE);
    if (!existing) {
      await queryRunner.createTable(
        new Table({
          name: REGISTRATIONS_TABLE,
          columns: [
            t.id('id'),
            t.bigint('lastUpdate', 0),
            t.string('instanceUrl', 255),
            t.string('accessToken', 1024),
            t.string('appId', 255),
            t.string('appSecret', 255),
            t.string('callbackUrl', 1024),
            t.string('tag', 255),
            t.string('endpoint', 255, true),
            t.timestamp('createdAt'),
            t.timestamp('updatedAt'),
          ],
          indices: [
            new TableIndex({ name: REGISTRATION_KEY_INDEX, columnNames: KEY, isUnique: true }),
            new TableIndex({ name: LAST_UPDATE_INDEX, columnNames: ['lastUpdate'] }),
          ],
        }),
      );
      return;
    }

    // Upgrade of the original program's table.
    for (const column of [t.string('endpoint', 255, true), t.timestamp('createdAt'), t.timestamp('updatedAt')]) {
      if (!existing.findColumnByName(column.name)) await queryRunner.addColumn(REGISTRATIONS_TABLE, new TableColumn(column));
    }
    // Sequelize wrote these timestamps itself; this project lets the database fill them in.
    for (const name of ['createdAt', 'updatedAt']) {
      const column = existing.findColumnByName(name);
      if (column && (column.default === undefined || column.default === null)) {
        await queryRunner.changeColumn(REGISTRATIONS_TABLE, column, new TableColumn(t.timestamp(name)));
      }
    }
    for (const name of ['accessToken', 'callbackUrl']) {
      const column = existing.findColumnByName(name);
      if (column && Number(column.length || 0) < 1024) await widenColumn(queryRunner, name, 1024);
    }
    await this.mergeDuplicates(queryRunner);
    await this.hashSecrets(queryRunner);

    const table = (await queryRunner.getTable(REGISTRATIONS_TABLE))!;
    const sameColumns = (index: TableIndex) =>
      index.columnNames.length === KEY.length && KEY.every((c) => index.columnNames.includes(c));
    const uniqueOnKey = table.indices.some((index) => index.isUnique && sameColumns(index));
    if (!uniqueOnKey) {
      const stale = table.indices.find((index) => index.name === REGISTRATION_KEY_INDEX);
      if (stale) await queryRunner.dropIndex(REGISTRATIONS_TABLE, stale);
      await queryRunner.createIndex(
        REGISTRATIONS_TABLE,
        new TableIndex({ name: REGISTRATION_KEY_INDEX, columnNames: KEY, isUnique: true }),
      );
    }
    if (!table.indices.some((index) => index.name === LAST_UPDATE_INDEX)) {
      await queryRunner.createIndex(
        REGISTRATIONS_TABLE,
        new TableIndex({ name: LAST_UPDATE_INDEX, columnNames: ['lastUpdate'] }),
      );
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(REGISTRATIONS_TABLE);
  }

  /** Without the unique index the original could store one key twice; the newest row wins. */
  private async mergeDuplicates(queryRunner: QueryRunner): Promise<void> {
    const rows = (await selectColumns(queryRunner, ['id', 'instanceUrl', 'appId', 'tag', 'lastUpdate'])) as KeyRow[];
    const newest = new Map<string, KeyRow>();
    const losers: (number | string)[] = [];
    const rank = (row: KeyRow) => [Number(row.lastUpdate ?? 0), Number(row.id)];
    for (const row of rows) {
      const key = JSON.stringify([row.instanceUrl, row.appId, row.tag]);
      const kept = newest.get(key);
      if (!kept) {
        newest.set(key, row);
        continue;
      }
      const [a1, a2] = rank(row);
      const [b1, b2] = rank(kept);
      if (a1 > b1 || (a1 === b1 && a2 > b2)) {
        losers.push(kept.id);
        newest.set(key, row);
      } else {
        losers.push(row.id);
      }
    }
    for (let i = 0; i < losers.length; i += 500) {
      await queryRunner.manager
        .createQueryBuilder()
        .delete()
        .from(REGISTRATIONS_TABLE)
        .whereInIds(losers.slice(i, i + 500))
        .execute();
    }
  }

  private async hashSecrets(queryRunner: QueryRunner): Promise<void> {
    const rows = (await selectColumns(queryRunner, ['id', 'appSecret'])) as { id: number; appSecret: string | null }[];
    for (const row of rows) {
      if (row.appSecret === null || isHashedSecret(row.appSecret)) continue;
      await queryRunner.manager
        .createQueryBuilder()
        .update(REGISTRATIONS_TABLE)
        .set({ appSecret: hashSecret(row.appSecret) })
        .where('id = :id', { id: row.id })
        .execute();
    }
  }
}
