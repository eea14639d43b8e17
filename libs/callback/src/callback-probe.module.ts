import { Module } from '@nestjs/common';
import { CallbackDeliveryService } from './callback-delivery.service';
import { CallbackHttpAgents } from './callback-http-agents';

/**
 * Single signed attempts without the dispatcher (no retry worker, no lanes):
 * for tools that check a callback once. Needs the global ConfigModule and MetricsModule.
 */
@Module({
  providers: [CallbackHttpAgents, CallbackDeliveryService],
  exports: [CallbackDeliveryService],
})
export class CallbackProbeModule {}
