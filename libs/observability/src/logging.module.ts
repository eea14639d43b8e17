import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Settings } from '@app/config';
import { REDACTED_LOG_PATHS } from '@app/security';

const QUIET_ROUTES = new Set(['/health', '/metrics']);

/**
 * Structured JSON logs (pino) for one app: level from LOG_LEVEL, the request id
 * Fastify gives each request (see createFastifyAdapter), secrets redacted by path.
 */
@Module({})
export class LoggingModule {
  static forRoot(settings: Settings): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: settings.logLevel,
            base: { pid: process.pid },
            redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
            autoLogging: { ignore: (req: IncomingMessage) => QUIET_ROUTES.has((req.url ?? '').split('?')[0]) },
            // the URL is logged without its query string: some clients put tokens there
            serializers: {
              req: (req: { id: string; method: string; url: string }) => ({
                id: req.id,
                method: req.method,
                url: String(req.url).split('?')[0],
              }),
              res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
            },
            customLogLevel: (_req: IncomingMessage, res: ServerResponse, error?: Error) =>
              error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
          },
        }),
      ],
      exports: [LoggerModule],
    };
  }
}
