import { randomUUID } from 'node:crypto';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyServerOptions } from 'fastify';
import type { HttpTimeouts } from '@app/config';

/** Node checks the headers and request limits on this period; its default of 30 s would let a dribbler stay twice as long. */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/** The default keeps idle sockets from app servers open for 72 seconds, long enough to reuse. */
const DEFAULT_TIMEOUTS: HttpTimeouts = { headersMs: 10_000, requestMs: 30_000, idleMs: 75_000, keepAliveMs: 72_000 };

/**
 * Fastify with a request id per request (an incoming `x-request-id` of a sane
 * shape is kept, echoed back) that pino-http puts on every line of that request.
 */
export function createFastifyAdapter(
  bodyLimit?: number,
  // errors Fastify's router answers itself (a broken %-escape in the path), which no Nest filter sees
  frameworkErrors?: FastifyServerOptions['frameworkErrors'],
  timeouts: HttpTimeouts = DEFAULT_TIMEOUTS,
): FastifyAdapter {
  const adapter = new FastifyAdapter({
    bodyLimit,
    frameworkErrors,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // Fastify's own default is no limit on a request at all: a client sending one byte every few seconds held its socket forever
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.idleMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    http: {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
  });
  adapter.getInstance().addHook('onRequest', async (request, reply) => {
    if (!/^[\w.-]{1,64}$/.test(request.id)) request.id = randomUUID();
    void reply.header('x-request-id', request.id);
  });
  return adapter;
}
