import { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorAnswer } from '../http/api-exception.filter';
import { PushReceiverService } from './push-receiver.service';

export const PUSH_ROUTE = '/push/:id';

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Serves POST /push/<id> in a Fastify scope of its own: pushes are binary
 * (`application/octet-stream`, or no Content-Type at all) and capped at
 * PUSH_MAX_BYTES, while every other route keeps accepting only form and JSON bodies.
 */
export function registerPushRoute(app: NestFastifyApplication, maxBytes: number): void {
  const receiver = app.get(PushReceiverService);
  const fastify: FastifyInstance = app.getHttpAdapter().getInstance();
  void fastify.register((scope, _options, done) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBytes }, (_request, body, next) =>
      next(null, body),
    );
    scope.setErrorHandler((error: FastifyError, _request, reply: FastifyReply) => {
      const status = error.statusCode === 413 ? 413 : 400;
      void reply.status(status).send(errorAnswer(status, status === 413 ? `push must be at most ${maxBytes} bytes` : 'push is not valid'));
    });
    scope.post(PUSH_ROUTE, { bodyLimit: maxBytes }, async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const answer = await receiver.receive({
        pushId: (request.params as { id?: string }).id ?? '',
        body,
        headers: {
          authorization: header(request, 'authorization'),
          contentEncoding: header(request, 'content-encoding'),
          cryptoKey: header(request, 'crypto-key'),
          encryption: header(request, 'encryption'),
        },
      });
      if (answer.retryAfter !== undefined) void reply.header('retry-after', String(answer.retryAfter));
      if (answer.status === 201) return reply.status(201).send();
      return reply.status(answer.status).send(errorAnswer(answer.status, answer.message));
    });
    done();
  });
}
