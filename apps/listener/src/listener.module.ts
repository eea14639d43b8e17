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
import { LifecycleEventsService } from './lifecycle/lifecycle-events.service';
import { LifecycleMetrics } from './lifecycle/lifecycle.metrics';
import { RegistrationRemovalService } from './lifecycle/registration-removal.service';
import { RegistrationStateRecorder } from './lifecycle/registration-state.recorder';
import { ListenerMetrics } from './listener.metrics';
import { HandoverService } from './membership/handover.service';
import { MembershipService } from './membership/membership.service';
import { ReconcileService } from './reconcile/reconcile.service';
import { ClusterStatusService } from './status/cluster-status.service';
import { StatusController } from './status/status.controller';
import { StatusAccessGuard } from './status/status-access.guard';
import { MembershipConnectionModule } from './membership/membership-connection.module';
import { EventLoopLagService } from './streams/event-loop-lag.service';
import { StreamRegistryService } from './streams/stream-registry.service';
import { ReceivedPushRelayService } from './webpush/received-push-relay.service';
import { WebPushRegistryService } from './webpush/web-push-registry.service';

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
        MembershipConnectionModule,
        MetricsModule,
        ScheduleModule.forRoot(),
        MastodonModule,
        CallbackModule,
      ],
      controllers: [HealthController, StatusController],
      providers: [
        ListenerMetrics,
        MembershipService,
        CatchUpCursorsService,
        CatchUpService,
        LifecycleMetrics,
        RegistrationStateRecorder,
        LifecycleEventsService,
        RegistrationRemovalService,
        EventRouterService,
        EventLoopLagService,
        StreamRegistryService,
        WebPushRegistryService,
        ReceivedPushRelayService,
        ReconcileService,
        ClusterStatusService,
        StatusAccessGuard,
        HandoverService,
      ],
    };
  }
}
