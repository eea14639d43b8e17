import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { errorAnswer } from './api-exception.filter';

/**
 * Fastify's router refuses some requests before Nest sees them (a path with a
 * broken %-escape); they get the same JSON shape as every other error answer.
 */
export function answerFrameworkError(
  error: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
): void {
  const message =
    error.code === 'FST_ERR_BAD_URL'
      ? 'URL path is not valid: it has a broken %-escape'
      : 'request is not valid';
  void reply
    .status(400)
    .header('content-type', 'application/json; charset=utf-8')
    .send(errorAnswer(400, message));
}
