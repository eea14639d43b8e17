import { DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { CallbackModule } from '@app/callback';
import { ConfigModule, Settings } from '@app/config';
import { DatabaseModule } from '@app/database';
import { MastodonModule } from '@app/mastodon';
import { LoggingModule, MetricsModule } from '@app/observability';
import { CatchUpCursorsService } from './catch-up/catch-up-cursors.service';
import { CatchUpService } from './catch-up/catch-up.service';
import { EventRouterService } from './events/event-router.service';
import { HealthController } from './health/health.controller';
import { ListenerMetrics } from './listener.metrics';
import { ReconcileService } from './reconcile/reconcile.service';
import { StreamRegistryService } from './streams/stream-registry.service';

/**
 * The listener: reconcile loop → stream registry → event router → callback
 * dispatcher. Its own providers are in this root module so that, at shutdown,
 * streams close (onModuleDestroy) before the dispatcher stores what it still holds.
 */
@Module({})
export class ListenerModule {
  static forRoot(settings: Settings): DynamicModule {
    return {
      module: ListenerModule,
      imports: [
        ConfigModule.forRoot(settings),
        LoggingModule.forRoot(settings),
        DatabaseModule.forRootAsync(),
        MetricsModule,
        ScheduleModule.forRoot(),
        MastodonModule,
        CallbackModule,
      ],
      controllers: [HealthController],
      providers: [
        ListenerMetrics,
        CatchUpCursorsService,
        CatchUpService,
        EventRouterService,
        StreamRegistryService,
        ReconcileService,
      ],
    };
  }
}
