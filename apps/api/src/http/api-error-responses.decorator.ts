import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from './error-response.dto';

type ErrorStatus = 400 | 401 | 403 | 413 | 415 | 503;

/** What each status means, and one answer of it exactly as the api gives it. */
const ERRORS: Record<ErrorStatus, { description: string; error: string; message: string }> = {
  400: {
    description: 'A field is missing or breaks a rule, or the body is malformed (bad JSON, not an object, not UTF-8).',
    error: 'Bad Request',
    message: 'tag must be at most 255 bytes (UTF-8)',
  },
  401: {
    description: 'app_secret does not match the app configured for app_id.',
    error: 'Unauthorized',
    message: 'app_secret does not match',
  },
  403: {
    description: 'app_id is not configured, or the instance is not allowed for this app.',
    error: 'Forbidden',
    message: 'instance_url is not allowed: instance is not configured in instance_map',
  },
  413: {
    description: 'The body is larger than API_BODY_LIMIT_BYTES.',
    error: 'Payload Too Large',
    message: 'body must be at most 16384 bytes',
  },
  415: {
    description: 'Content-Type is neither application/x-www-form-urlencoded nor application/json.',
    error: 'Unsupported Media Type',
    message: 'Content-Type must be application/x-www-form-urlencoded or application/json',
  },
  503: { description: 'The database is unavailable.', error: 'Service Unavailable', message: 'database unavailable' },
};

/** Documents the JSON error answers a route can give, each with its own example. */
export function ApiErrorResponses(...statuses: ErrorStatus[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((status) => {
      const { description, error, message } = ERRORS[status];
      return ApiResponse({
        status,
        description,
        type: ErrorResponseDto,
        example: { statusCode: status, error, message },
      });
    }),
  );
}
