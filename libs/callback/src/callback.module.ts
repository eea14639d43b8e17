import { Module } from '@nestjs/common';
import { CallbackDeliveryService } from './callback-delivery.service';
import { CallbackHttpAgents } from './callback-http-agents';
import { CallbackDispatcher } from './callback.dispatcher';

/**
 * Callback delivery. Needs the global ConfigModule, DatabaseModule and
 * MetricsModule; exports CallbackDispatcher.
 */
@Module({
  providers: [CallbackHttpAgents, CallbackDeliveryService, CallbackDispatcher],
  exports: [CallbackDispatcher],
})
export class CallbackModule {}
