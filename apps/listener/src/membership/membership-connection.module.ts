import { Module } from '@nestjs/common';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SETTINGS, Settings } from '@app/config';
import { dataSourceOptions, ListenerNodeEntity, ListenerNodeRepository } from '@app/database';

/** The TypeORM connection name of the membership's own pool. */
export const MEMBERSHIP_CONNECTION = 'membership';
/** The ListenerNodeRepository over that pool: what MembershipService reads and writes. */
export const MEMBERSHIP_NODES = Symbol('MEMBERSHIP_NODES');

/**
 * Heartbeats and member reads over a pool of their own (two connections):
 * on the shared pool they waited behind thousands of cursor, state and retry
 * writes after a takeover, failed on the pool's 5 s acquire timeout, and
 * the other listeners took a listener that was only busy for dead.
 */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      name: MEMBERSHIP_CONNECTION,
      inject: [SETTINGS],
      useFactory: (settings: Settings) => {
        if (settings.database.kind !== 'server') {
          throw new Error(
            'the membership connection needs prepared settings (call prepareDatabase first)',
          );
        }
        return {
          ...dataSourceOptions({ ...settings.database, poolSize: 2 }),
          // named here too: the module closing it at shutdown looks it up by this name
          name: MEMBERSHIP_CONNECTION,
          entities: [ListenerNodeEntity],
          migrations: [],
          retryAttempts: 3,
          retryDelay: 1_000,
        };
      },
    }),
  ],
  providers: [
    {
      provide: MEMBERSHIP_NODES,
      inject: [getDataSourceToken(MEMBERSHIP_CONNECTION)],
      useFactory: (dataSource: DataSource) =>
        new ListenerNodeRepository(dataSource.getRepository(ListenerNodeEntity)),
    },
  ],
  exports: [MEMBERSHIP_NODES],
})
export class MembershipConnectionModule {}
