export * from './app-config.service';
export * from './config-maps';
export * from './config.error';
export * from './config.module';
export * from './config.tokens';
export * from './environment';
export * from './load-settings';
export * from './settings';
