import {
  ArgumentsHost,
  BadRequestException,
  HttpException,
  Logger,
  NotFoundException,
  UnauthorizedException,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { QueryFailedError } from 'typeorm';
import { RegistrationMetrics } from '../registrations/registration-metrics.service';
import { strictStub } from '../../../../test/support/strict-stub';
import { ApiExceptionFilter } from './api-exception.filter';
import { DatabaseUnavailableException } from './database-errors';

interface SentReply {
  status?: number;
  headers: Record<string, string>;
  body?: unknown;
}

function hostFor(
  request: Partial<FastifyRequest>,
  sent: SentReply,
  alreadySent = false,
): ArgumentsHost {
  const reply = {
    sent: alreadySent,
    status(code: number) {
      sent.status = code;
      return reply;
    },
    header(name: string, value: string) {
      sent.headers[name] = value;
      return reply;
    },
    send(body: unknown) {
      sent.body = body;
      return reply;
    },
  };
  return strictStub<ArgumentsHost>('host', {
    switchToHttp: () =>
      strictStub('http', { getRequest: () => request, getResponse: () => reply }) as ReturnType<
        ArgumentsHost['switchToHttp']
      >,
  });
}

describe('ApiExceptionFilter', () => {
  let recordRefusal: jest.Mock;
  let filter: ApiExceptionFilter;
  const registerRequest = {
    method: 'POST',
    url: '/register',
    routeOptions: { url: '/register' },
  } as FastifyRequest;

  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  beforeEach(() => {
    recordRefusal = jest.fn();
    filter = new ApiExceptionFilter(
      strictStub<RegistrationMetrics>('metrics', { recordRefusal }),
      16_384,
    );
  });

  function answer(exception: unknown, request: FastifyRequest = registerRequest): SentReply {
    const sent: SentReply = { headers: {} };
    filter.catch(exception, hostFor(request, sent));
    return sent;
  }

  it('answers an HttpException as {statusCode, error, message} JSON and counts it for the route', () => {
    const sent = answer(new BadRequestException('tag must be at most 255 bytes (UTF-8)'));
    expect(sent.status).toBe(400);
    expect(sent.headers['content-type']).toMatch(/^application\/json/);
    expect(sent.body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'tag must be at most 255 bytes (UTF-8)',
    });
    expect(recordRefusal).toHaveBeenCalledWith('/register', 400);
  });

  it('keeps 401 and 403 with their messages', () => {
    expect(answer(new UnauthorizedException('app_secret does not match')).body).toEqual({
      statusCode: 401,
      error: 'Unauthorized',
      message: 'app_secret does not match',
    });
  });

  it('explains 413 and 415 (raised by Fastify, passed on by Nest as plain HttpExceptions)', () => {
    expect(answer(new HttpException('Request body is too large', 413)).body).toEqual({
      statusCode: 413,
      error: 'Payload Too Large',
      message: 'body must be at most 16384 bytes',
    });
    expect(
      answer(
        Object.assign(new Error('Unsupported Media Type'), {
          statusCode: 415,
          code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
        }),
      ).body,
    ).toEqual({
      statusCode: 415,
      error: 'Unsupported Media Type',
      message: 'Content-Type must be application/x-www-form-urlencoded or application/json',
    });
  });

  it('answers an unmatched route without repeating the query string', () => {
    const request = {
      method: 'GET',
      url: '/nowhere?access_token=SECRET',
      routeOptions: {},
    } as FastifyRequest;
    const sent = answer(new NotFoundException('Cannot GET /nowhere?access_token=SECRET'), request);
    expect(sent.body).toEqual({
      statusCode: 404,
      error: 'Not Found',
      message: 'no route for GET /nowhere',
    });
    expect(recordRefusal).toHaveBeenCalledWith('unmatched', 404);
  });

  it('answers 503 "database unavailable" for a database error that escaped a service', () => {
    const failure = new QueryFailedError(
      'INSERT ...',
      ['SECRET-TOKEN'],
      new Error('Data too long: SECRET-TOKEN'),
    );
    const sent = answer(failure);
    expect(sent.body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'database unavailable',
    });
    expect(JSON.stringify(sent.body)).not.toContain('SECRET');
    expect(answer(new DatabaseUnavailableException()).body).toEqual(sent.body);
    expect(
      answer(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).status,
    ).toBe(503);
  });

  it('answers 500 without details for a bug', () => {
    expect(answer(new TypeError("Cannot read properties of undefined (reading 'x')")).body).toEqual(
      {
        statusCode: 500,
        error: 'Internal Server Error',
        message: 'internal server error',
      },
    );
  });

  it('does not write to a reply that was already sent, but still counts', () => {
    const sent: SentReply = { headers: {} };
    filter.catch(new BadRequestException('x'), hostFor(registerRequest, sent, true));
    expect(sent.status).toBeUndefined();
    expect(recordRefusal).toHaveBeenCalledTimes(1);
  });
});
