import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Settings } from '@app/config';
import { pathForLog } from '@app/security';
import { BootstrapQuietLogger } from './bootstrap-quiet.logger';
import { processLogger } from './process-logger';

/** Probes, scrapes, documentation and accepted Web Pushes: logged at debug, or they would drown everything else. */
const QUIET_ROUTE = /^\/(health|metrics|docs|status|push)(\.json|-json|\/|$)/;

/** The path of a request without its query string (some clients put tokens there, and `?token=` opens the status page) or a push id. */
function pathOf(req: IncomingMessage & { originalUrl?: string }): string {
  return pathForLog(String(req.originalUrl ?? req.url ?? ''));
}

/**
 * Logs for one app through the process's logger (see processLogger): level
 * from LOG_LEVEL, the request id Fastify gives each request (see
 * createFastifyAdapter) on every line of that request, secrets redacted by path.
 * One line per request: `GET /register 202 3 ms`.
 */
@Module({})
export class LoggingModule {
  static forRoot(settings: Settings): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            logger: processLogger(settings),
            serializers: {
              req: (req: { id: string; method: string; url: string }) => ({
                id: req.id,
                method: req.method,
                url: pathForLog(String(req.url)),
              }),
              res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
            },
            customSuccessMessage: (req: IncomingMessage, res: ServerResponse, responseTime: number) =>
              `${req.method} ${pathOf(req)} ${res.statusCode} ${Math.round(responseTime)} ms`,
            customErrorMessage: (req: IncomingMessage, res: ServerResponse, error: Error) =>
              `${req.method} ${pathOf(req)} ${res.statusCode} failed: ${error.message}`,
            customLogLevel: (req: IncomingMessage, res: ServerResponse, error?: Error) => {
              if (error || res.statusCode >= 500) return 'error';
              if (res.statusCode >= 400) return 'warn';
              return QUIET_ROUTE.test(pathOf(req)) ? 'debug' : 'info';
            },
          },
        }),
      ],
      providers: [BootstrapQuietLogger],
      exports: [LoggerModule, BootstrapQuietLogger],
    };
  }
}
