import { HttpModule } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { CallbackDeliveryService } from './callback-delivery.service';
import { CallbackHttpAgents } from './callback-http-agents';
import { CallbackDispatcher } from './callback.dispatcher';

/**
 * Callback delivery. Needs the global ConfigModule, DatabaseModule and
 * MetricsModule; exports CallbackDispatcher.
 */
@Module({
  // request options (agents, timeout, no redirects) are set per request by CallbackDeliveryService
  imports: [HttpModule.register({})],
  providers: [CallbackHttpAgents, CallbackDeliveryService, CallbackDispatcher],
  exports: [CallbackDispatcher],
})
export class CallbackModule {}
