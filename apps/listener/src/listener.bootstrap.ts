import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { Settings } from '@app/config';
import { createFastifyAdapter } from '@app/observability';
import { ListenerModule } from './listener.module';
import { HandoverService } from './membership/handover.service';

/** Builds the listener (streams, reconcile loop, callback delivery) and serves /health and /metrics on LISTENER_PORT. */
export async function createListenerApp(settings: Settings): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    ListenerModule.forRoot(settings),
    createFastifyAdapter(),
    {
      bufferLogs: true,
    },
  );
  app.useLogger(app.get(Logger));
  await app.listen(settings.listener.port, settings.listener.host);
  return app;
}

/** What a SIGTERM does before closing the listener: hand its streams over to the other listeners. */
export function listenerHandover(app: NestFastifyApplication): {
  run: () => Promise<void>;
  budgetMs: number;
} {
  const handover = app.get(HandoverService);
  return { run: () => handover.handOver(), budgetMs: handover.budgetMs };
}
