export * from './logging.module';
export * from './metrics.module';
export * from './metrics.service';
export * from './graceful-shutdown';
export * from './fastify-adapter';
