import { DataSourceOptions } from 'typeorm';
import { ServerDatabaseSettings } from '@app/config';
import { ListenerNodeEntity } from './entities/listener-node.entity';
import { PendingDeliveryEntity } from './entities/pending-delivery.entity';
import { PushSubscriptionEntity } from './entities/push-subscription.entity';
import { ReceivedPushEntity } from './entities/received-push.entity';
import { RegistrationEntity } from './entities/registration.entity';
import { MIGRATIONS } from './migrations';

export const ENTITIES = [
  RegistrationEntity,
  PendingDeliveryEntity,
  ListenerNodeEntity,
  PushSubscriptionEntity,
  ReceivedPushEntity,
];
export const MIGRATIONS_TABLE = 'stream_listener_migrations';

/** TypeORM options for any supported dialect; entities and migrations are listed, never globbed. */
export function dataSourceOptions(db: ServerDatabaseSettings): DataSourceOptions {
  const common = {
    host: db.host,
    port: db.port,
    username: db.user,
    password: db.password,
    database: db.name,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: MIGRATIONS_TABLE,
    migrationsRun: false,
    synchronize: false,
    logging: false,
  };
  switch (db.dialect) {
    case 'postgres':
      return { ...common, type: 'postgres', poolSize: db.poolSize, connectTimeoutMS: 5_000 };
    case 'mysql':
    case 'mariadb':
      return {
        ...common,
        type: db.dialect,
        poolSize: db.poolSize,
        charset: 'utf8mb4',
        connectTimeout: 5_000,
        timezone: 'Z',
      };
    case 'mssql':
      return {
        ...common,
        type: 'mssql',
        pool: { max: db.poolSize },
        options: { encrypt: true, trustServerCertificate: true },
        connectionTimeout: 5_000,
      };
  }
}
