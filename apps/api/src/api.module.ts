import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { ConfigModule, SETTINGS, Settings } from '@app/config';
import { DatabaseModule } from '@app/database';
import { LoggingModule, MetricsModule } from '@app/observability';
import { HealthModule } from './health/health.module';
import { ApiExceptionFilter } from './http/api-exception.filter';
import { createValidationPipe } from './http/validation.pipe';
import { PushModule } from './push/push.module';
import { RegistrationMetrics } from './registrations/registration-metrics.service';
import { RegistrationsModule } from './registrations/registrations.module';

@Module({})
export class ApiModule {
  static forRoot(settings: Settings): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        ConfigModule.forRoot(settings),
        LoggingModule.forRoot(settings),
        DatabaseModule.forRootAsync(),
        MetricsModule,
        RegistrationsModule,
        PushModule,
        HealthModule,
      ],
      providers: [
        { provide: APP_PIPE, useFactory: createValidationPipe },
        {
          provide: APP_FILTER,
          inject: [RegistrationMetrics, SETTINGS],
          useFactory: (metrics: RegistrationMetrics, current: Settings) =>
            new ApiExceptionFilter(metrics, current.api.bodyLimitBytes),
        },
      ],
    };
  }
}
