import { randomUUID } from 'node:crypto';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyServerOptions } from 'fastify';

/**
 * Fastify with a request id per request (an incoming `x-request-id` of a sane
 * shape is kept, echoed back) that pino-http puts on every line of that request.
 */
export function createFastifyAdapter(
  bodyLimit?: number,
  // errors Fastify's router answers itself (a broken %-escape in the path), which no Nest filter sees
  frameworkErrors?: FastifyServerOptions['frameworkErrors'],
): FastifyAdapter {
  const adapter = new FastifyAdapter({
    bodyLimit,
    frameworkErrors,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // the default of 72 seconds keeps idle sockets from app servers open long enough to reuse
    keepAliveTimeout: 72_000,
  });
  adapter.getInstance().addHook('onRequest', async (request, reply) => {
    if (!/^[\w.-]{1,64}$/.test(request.id)) request.id = randomUUID();
    void reply.header('x-request-id', request.id);
  });
  return adapter;
}
