import { DynamicModule, Module } from '@nestjs/common';
import { CallbackProbeModule } from '@app/callback';
import { ConfigModule, Settings } from '@app/config';
import { DatabaseModule } from '@app/database';
import { MetricsModule } from '@app/observability';

/**
 * What the admin commands run on: the apps' own config, database module and
 * callback signing, without the listener's loops or any HTTP server.
 */
@Module({})
export class AdminModule {
  static forRoot(settings: Settings): DynamicModule {
    return {
      module: AdminModule,
      imports: [ConfigModule.forRoot(settings), DatabaseModule.forRootAsync(), MetricsModule, CallbackProbeModule],
    };
  }
}
