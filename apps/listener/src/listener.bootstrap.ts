import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Settings } from '@app/config';
import { BootstrapQuietLogger, createFastifyAdapter, logListening } from '@app/observability';
import { ListenerModule } from './listener.module';
import { HandoverService } from './membership/handover.service';

/** Builds the listener (streams, reconcile loop, callback delivery) and serves /health, /metrics and /status on LISTENER_PORT. */
export async function createListenerApp(settings: Settings): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    ListenerModule.forRoot(settings),
    createFastifyAdapter(),
    {
      bufferLogs: true,
    },
  );
  app.useLogger(app.get(BootstrapQuietLogger));
  await app.listen(settings.listener.port, settings.listener.host);
  logListening(app, 'listener', settings.listener.host, ['/health', '/metrics', '/status']);
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
