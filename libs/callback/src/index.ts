export * from './callback.module';
export * from './callback.dispatcher';
export * from './relay-event';
export { CALLBACK_USER_AGENT } from './callback-delivery.service';
export { derivedWebhookId } from './webhook-signer';
