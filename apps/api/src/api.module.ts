import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, Settings } from '@app/config';
import { DatabaseModule } from '@app/database';
import { LoggingModule, MetricsModule } from '@app/observability';

@Module({})
export class ApiModule {
  static forRoot(settings: Settings): DynamicModule {
    return {
      module: ApiModule,
      imports: [ConfigModule.forRoot(settings), LoggingModule.forRoot(settings), DatabaseModule.forRootAsync(), MetricsModule],
    };
  }
}
