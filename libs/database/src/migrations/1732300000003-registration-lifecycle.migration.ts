import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';
import { REGISTRATIONS_TABLE } from '../entities/registration.entity';
import { columnTypes } from './column-types';

/**
 * What the listener records about each registration's life: its state and
 * since when, the last error, the last relayed event, which listener holds it,
 * the endpoint its stream uses and, once it ended, why. All nullable: rows of
 * a running installation get their values when the listener next sees them.
 */
export class RegistrationLifecycle1732300000003 implements MigrationInterface {
  name = 'RegistrationLifecycle1732300000003';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    const columns = [
      t.string('state', 16, true),
      t.optionalBigint('stateSince'),
      t.string('lastError', 500, true),
      t.optionalBigint('lastRelayedAt'),
      t.string('heldBy', 64, true),
      t.string('endpointInUse', 32, true),
      t.string('removalReason', 16, true),
    ];
    const table = await queryRunner.getTable(REGISTRATIONS_TABLE);
    for (const column of columns) {
      if (!table?.findColumnByName(column.name))
        await queryRunner.addColumn(REGISTRATIONS_TABLE, new TableColumn(column));
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const name of [
      'removalReason',
      'endpointInUse',
      'heldBy',
      'lastRelayedAt',
      'lastError',
      'stateSince',
      'state',
    ])
      await queryRunner.dropColumn(REGISTRATIONS_TABLE, name);
  }
}
