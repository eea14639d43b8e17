import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { Settings } from '@app/config';
import { createFastifyAdapter, MetricsService } from '@app/observability';
import { ApiModule } from './api.module';
import { configureHttp } from './http/configure-http';
import { answerFrameworkError } from './http/framework-errors';
import { setupOpenApi } from './http/openapi';

/** Builds the registration API and starts listening on PORT. */
export async function createApiApp(settings: Settings): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    ApiModule.forRoot(settings),
    createFastifyAdapter(settings.api.bodyLimitBytes, answerFrameworkError, settings.api.timeouts),
    // Nest's parsers accept any JSON value and invalid UTF-8; configureHttp registers strict ones
    { bufferLogs: true, bodyParser: false },
  );
  app.useLogger(app.get(Logger));
  configureHttp(app, settings.api.bodyLimitBytes, app.get(MetricsService));
  setupOpenApi(app);
  await app.listen(settings.api.port, settings.api.host);
  return app;
}
