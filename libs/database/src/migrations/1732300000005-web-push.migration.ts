import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';
import {
  PUSH_ID_INDEX,
  PUSH_SUBSCRIPTIONS_TABLE,
} from '../entities/push-subscription.entity';
import {
  RECEIVED_PUSH_KEY_INDEX,
  RECEIVED_PUSHES_TABLE,
} from '../entities/received-push.entity';
import { REGISTRATIONS_TABLE } from '../entities/registration.entity';
import { columnTypes } from './column-types';

/**
 * The Web Push transport: the transport a registration asked for (null: the
 * instance's, else `stream`), each registration's push subscription with its
 * keys, and the pushes received and not yet relayed (kept a while after, to
 * recognise replays).
 */
export class WebPush1732300000005 implements MigrationInterface {
  name = 'WebPush1732300000005';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    const registrations = await queryRunner.getTable(REGISTRATIONS_TABLE);
    if (!registrations?.findColumnByName('transport'))
      await queryRunner.addColumn(REGISTRATIONS_TABLE, new TableColumn(t.string('transport', 16, true)));
    await queryRunner.createTable(
      new Table({
        name: PUSH_SUBSCRIPTIONS_TABLE,
        columns: [
          { ...t.int('registrationId'), isPrimary: true },
          t.string('pushId', 64),
          t.string('publicKey', 128),
          t.string('privateKey', 255),
          t.string('authSecret', 255),
          t.string('serverKey', 255, true),
          t.string('state', 16),
          t.string('tokenHash', 128),
          t.string('lastError', 500, true),
          t.bigint('updatedAt'),
        ],
        indices: [new TableIndex({ name: PUSH_ID_INDEX, columnNames: ['pushId'], isUnique: true })],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: RECEIVED_PUSHES_TABLE,
        columns: [
          t.id('id', true),
          t.int('registrationId'),
          t.string('notificationId', 64),
          t.bigint('receivedAt'),
          t.optionalBigint('relayedAt'),
        ],
        indices: [
          new TableIndex({
            name: RECEIVED_PUSH_KEY_INDEX,
            columnNames: ['registrationId', 'notificationId'],
            isUnique: true,
          }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(RECEIVED_PUSHES_TABLE);
    await queryRunner.dropTable(PUSH_SUBSCRIPTIONS_TABLE);
    await queryRunner.dropColumn(REGISTRATIONS_TABLE, 'transport');
  }
}
