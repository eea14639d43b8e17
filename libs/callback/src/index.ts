export * from './callback.module';
export * from './callback-probe.module';
export * from './callback.dispatcher';
export * from './relay-event';
export { CALLBACK_USER_AGENT, CallbackDeliveryService, CallbackProbeResult } from './callback-delivery.service';
export { derivedWebhookId, newWebhookId } from './webhook-signer';
