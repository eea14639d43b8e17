import { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MetricsService } from '@app/observability';
import { parseFormBody, parseJsonObjectBody } from './request-body';

export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';
export const JSON_CONTENT_TYPE = 'application/json';

/** Route label for requests no route matched: keeps the label set bounded whatever URLs clients try. */
export const UNMATCHED_ROUTE = 'unmatched';

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

/**
 * Only form and JSON bodies are accepted (anything else is 415), both within
 * `bodyLimit` bytes (413 beyond) and strictly UTF-8. The app is created with
 * Nest's own parsers off: they would accept invalid UTF-8 and any JSON value.
 */
export function registerBodyParsers(fastify: FastifyInstance, bodyLimit: number): void {
  const defaultJsonParser = fastify.getDefaultJsonParser('error', 'error');
  const parseJson = (text: string): unknown => {
    let result: unknown;
    let failure: unknown;
    // Fastify's parser reports through a callback, synchronously
    void defaultJsonParser({} as FastifyRequest, text, (error, body) => {
      failure = error;
      result = body;
    });
    if (failure) throw failure instanceof Error ? failure : new Error('invalid JSON');
    return result;
  };
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(
    JSON_CONTENT_TYPE,
    { parseAs: 'buffer', bodyLimit },
    async (_request: FastifyRequest, body: Buffer) => parseJsonObjectBody(body, parseJson),
  );
  fastify.addContentTypeParser(
    FORM_CONTENT_TYPE,
    { parseAs: 'buffer', bodyLimit },
    async (_request: FastifyRequest, body: Buffer) => parseFormBody(body),
  );
}

/** msl_http_requests_total and msl_http_request_duration_seconds, labelled by route pattern. */
export function registerHttpMetrics(fastify: FastifyInstance, metrics: MetricsService): void {
  const requests = metrics.counter('msl_http_requests_total', 'HTTP requests answered by the api', [
    'method',
    'route',
    'status',
  ]);
  const duration = metrics.histogram(
    'msl_http_request_duration_seconds',
    'Time to answer an HTTP request',
    ['method', 'route'],
  );
  fastify.addHook(
    'onResponse',
    (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      const method = KNOWN_METHODS.has(request.method) ? request.method : 'OTHER';
      const route = routeOf(request);
      requests.inc({ method, route, status: String(reply.statusCode) });
      duration.observe({ method, route }, reply.elapsedTime / 1000);
      done();
    },
  );
}

/** The route pattern that matched `request`, or UNMATCHED_ROUTE. */
export function routeOf(request: FastifyRequest): string {
  return request.routeOptions?.url ?? UNMATCHED_ROUTE;
}

export function configureHttp(
  app: NestFastifyApplication,
  bodyLimit: number,
  metrics: MetricsService,
): void {
  const fastify = app.getHttpAdapter().getInstance();
  registerBodyParsers(fastify, bodyLimit);
  registerHttpMetrics(fastify, metrics);
}
