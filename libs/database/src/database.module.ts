import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SETTINGS, Settings } from '@app/config';
import { dataSourceOptions, ENTITIES } from './data-source-options';
import { DatabaseHealthService } from './database-health.service';
import { ClusterReportRepository } from './repositories/cluster-report.repository';
import { ListenerNodeRepository } from './repositories/listener-node.repository';
import { PendingDeliveryRepository } from './repositories/pending-delivery.repository';
import { PushSubscriptionRepository } from './repositories/push-subscription.repository';
import { ReceivedPushRepository } from './repositories/received-push.repository';
import { RegistrationRepository } from './repositories/registration.repository';
import { RegistrationStateRepository } from './repositories/registration-state.repository';

const REPOSITORIES = [
  RegistrationRepository,
  RegistrationStateRepository,
  PendingDeliveryRepository,
  ClusterReportRepository,
  ListenerNodeRepository,
  PushSubscriptionRepository,
  ReceivedPushRepository,
  DatabaseHealthService,
];

@Module({})
export class DatabaseModule {
  /** Connects with the prepared settings (see prepareDatabase: the embedded server is already running). */
  static forRootAsync(): DynamicModule {
    return {
      module: DatabaseModule,
      global: true,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [SETTINGS],
          useFactory: (settings: Settings) => {
            if (settings.database.kind !== 'server') {
              throw new Error('DatabaseModule needs prepared settings (call prepareDatabase first)');
            }
            return { ...dataSourceOptions(settings.database), retryAttempts: 3, retryDelay: 1_000 };
          },
        }),
        TypeOrmModule.forFeature(ENTITIES),
      ],
      providers: REPOSITORIES,
      exports: REPOSITORIES,
    };
  }
}
