import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';
import { REGISTRATIONS_TABLE } from '../entities/registration.entity';
import { columnTypes } from './column-types';

/**
 * The catch-up cursor: the id of the newest Mastodon object (notification, or
 * a conversation's last status on the direct stream) delivered or durably
 * queued for the registration. Null until its first stream open takes a floor.
 */
export class CatchUpCursor1732300000002 implements MigrationInterface {
  name = 'CatchUpCursor1732300000002';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    const table = await queryRunner.getTable(REGISTRATIONS_TABLE);
    if (table?.findColumnByName('lastNotificationId')) return;
    await queryRunner.addColumn(
      REGISTRATIONS_TABLE,
      new TableColumn(t.string('lastNotificationId', 64, true)),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn(REGISTRATIONS_TABLE, 'lastNotificationId');
  }
}
