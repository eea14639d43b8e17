export * from './address-guard.service';
export * from './instance-info.service';
export * from './instance-version';
export * from './mastodon-stream';
export * from './mastodon.module';
export * from './stream-target.service';
export * from './streaming-frame.parser';
export * from './streaming-url';
