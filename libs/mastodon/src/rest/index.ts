export * from './mastodon-id';
export * from './mastodon-page';
export * from './mastodon-rest.client';
export * from './mastodon-rest.error';
