import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { RegistrationMetrics } from '../registrations/registration-metrics.service';
import { routeOf, UNMATCHED_ROUTE } from './configure-http';
import { describeDatabaseError, isDatabaseError } from './database-errors';

export interface ErrorAnswer {
  statusCode: number;
  error: string;
  message: string;
}

/**
 * Fastify refuses these before any handler runs (Nest passes them on as plain
 * HttpExceptions); our own code never answers them, so they get messages that say what to fix.
 */
const BODY_MESSAGES: Record<number, (limit: number) => string> = {
  413: (limit) => `body must be at most ${limit} bytes`,
  415: () => 'Content-Type must be application/x-www-form-urlencoded or application/json',
};

export function errorAnswer(statusCode: number, message: string): ErrorAnswer {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

function httpExceptionMessage(exception: HttpException): string {
  const response = exception.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (Array.isArray(message) && typeof message[0] === 'string') return message[0];
  if (typeof message === 'string') return message;
  return STATUS_CODES[exception.getStatus()] ?? 'Error';
}

function clientErrorStatus(exception: unknown): number | undefined {
  const statusCode = (exception as { statusCode?: unknown } | null)?.statusCode;
  return typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500
    ? statusCode
    : undefined;
}

/**
 * Every error answer is `{statusCode, error, message}` JSON. Whatever a client
 * sends ends in a 4xx; a database failure is a 503; only a bug of ours is a 500.
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(ApiExceptionFilter.name);

  constructor(
    private readonly registrationMetrics: RegistrationMetrics,
    private readonly bodyLimitBytes: number,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const request = host.switchToHttp().getRequest<FastifyRequest>();
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const route = routeOf(request);
    const body = this.toAnswer(exception, request, route);
    this.registrationMetrics.recordRefusal(route, body.statusCode);
    // messages name fields and rules, never values, so they are safe to log
    if (body.statusCode < 500)
      this.logger.debug(`${request.method} ${route} refused (${body.statusCode}): ${body.message}`);
    if (reply.sent) return;
    void reply
      .status(body.statusCode)
      .header('content-type', 'application/json; charset=utf-8')
      .send(body);
  }

  toAnswer(exception: unknown, request: FastifyRequest, route: string): ErrorAnswer {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      if (status === 404 && route === UNMATCHED_ROUTE) {
        // Nest's message repeats the URL with its query string, where some clients put tokens
        const path = request.url.split('?')[0].slice(0, 200);
        return errorAnswer(404, `no route for ${request.method} ${path}`);
      }
      if (status >= 500)
        this.logger.error(`${request.method} ${route} failed: ${httpExceptionMessage(exception)}`);
      const bodyMessage = BODY_MESSAGES[status];
      return errorAnswer(
        status,
        bodyMessage ? bodyMessage(this.bodyLimitBytes) : httpExceptionMessage(exception),
      );
    }
    const clientStatus = clientErrorStatus(exception);
    if (clientStatus !== undefined) {
      const bodyMessage = BODY_MESSAGES[clientStatus];
      return errorAnswer(
        clientStatus,
        bodyMessage ? bodyMessage(this.bodyLimitBytes) : (STATUS_CODES[clientStatus] ?? 'Error'),
      );
    }
    if (isDatabaseError(exception)) {
      this.logger.error(
        `${request.method} ${route}: database unavailable (${describeDatabaseError(exception)})`,
      );
      return errorAnswer(503, 'database unavailable');
    }
    const error = exception instanceof Error ? exception : new Error(String(exception));
    this.logger.error(`${request.method} ${route} failed: ${error.message}`, error.stack);
    return errorAnswer(500, 'internal server error');
  }
}
