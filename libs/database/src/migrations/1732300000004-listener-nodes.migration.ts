import { MigrationInterface, QueryRunner, Table } from 'typeorm';
import { LISTENER_NODES_TABLE } from '../entities/listener-node.entity';
import { columnTypes } from './column-types';

/** Membership of the listener cluster: one row per running listener, with its heartbeat. */
export class ListenerNodes1732300000004 implements MigrationInterface {
  name = 'ListenerNodes1732300000004';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: LISTENER_NODES_TABLE,
        columns: [
          { ...t.string('id', 64), isPrimary: true },
          t.bigint('startedAt'),
          t.bigint('heartbeatAt'),
          t.int('leaving', 0),
          t.string('view', 64),
          t.int('streamsOpen', 0),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(LISTENER_NODES_TABLE);
  }
}
