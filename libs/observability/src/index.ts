export * from './logging.module';
export * from './metrics.module';
export * from './metrics.service';
export * from './graceful-shutdown';
export * from './fastify-adapter';
export * from './process-logger';
export * from './bootstrap-quiet.logger';
export * from './listening-line';
