import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Settings } from '@app/config';
import { BootstrapQuietLogger, createFastifyAdapter, logListening, MetricsService } from '@app/observability';
import { ApiModule } from './api.module';
import { configureHttp } from './http/configure-http';
import { answerFrameworkError } from './http/framework-errors';
import { setupOpenApi } from './http/openapi';
import { registerPushRoute } from './push/push-route';

/** Builds the registration API and starts listening on PORT. */
export async function createApiApp(settings: Settings): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    ApiModule.forRoot(settings),
    createFastifyAdapter(settings.api.bodyLimitBytes, answerFrameworkError, settings.api.timeouts),
    // Nest's parsers accept any JSON value and invalid UTF-8; configureHttp registers strict ones
    { bufferLogs: true, bodyParser: false },
  );
  app.useLogger(app.get(BootstrapQuietLogger));
  configureHttp(app, settings.api.bodyLimitBytes, app.get(MetricsService));
  registerPushRoute(app, settings.webPush.maxPushBytes);
  setupOpenApi(app);
  await app.listen(settings.api.port, settings.api.host);
  logListening(app, 'api', settings.api.host, ['/register', '/unregister', '/docs', '/health', '/metrics']);
  return app;
}
