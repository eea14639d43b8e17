export * from './mastodon-push.client';
export * from './push-decryption';
export * from './push-keys';
export * from './push-payload';
export * from './vapid';
