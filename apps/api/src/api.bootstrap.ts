import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { Settings } from '@app/config';
import { createFastifyAdapter } from '@app/observability';
import { ApiModule } from './api.module';

/** Builds the registration API and starts listening on PORT. */
export async function createApiApp(settings: Settings): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    ApiModule.forRoot(settings),
    createFastifyAdapter(settings.api.bodyLimitBytes),
    { bufferLogs: true },
  );
  app.useLogger(app.get(Logger));
  await app.listen(settings.api.port, settings.api.host);
  return app;
}
