import { MigrationInterface, QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';
import { DELIVERIES_TABLE } from '../entities/pending-delivery.entity';
import { REGISTRATIONS_TABLE } from '../entities/registration.entity';
import { columnTypes } from './column-types';

/** The durable callback retry queue. */
export class Deliveries1732300000001 implements MigrationInterface {
  name = 'Deliveries1732300000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: DELIVERIES_TABLE,
        columns: [
          t.id('id', true),
          t.int('registrationId'),
          t.string('webhookId', 64),
          t.string('event', 64),
          t.text('body'),
          t.int('attempts', 0),
          t.bigint('receivedAt'),
          t.bigint('nextAttemptAt'),
          t.bigint('deadlineAt'),
          t.string('lastError', 255, true),
        ],
        indices: [
          new TableIndex({ name: 'stream_listener_deliveries_registration', columnNames: ['registrationId', 'id'] }),
          new TableIndex({ name: 'stream_listener_deliveries_next_attempt', columnNames: ['nextAttemptAt'] }),
        ],
        foreignKeys: [
          new TableForeignKey({
            name: 'stream_listener_deliveries_registration_fk',
            columnNames: ['registrationId'],
            referencedTableName: REGISTRATIONS_TABLE,
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(DELIVERIES_TABLE);
  }
}
