import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from './error-response.dto';

const DESCRIPTIONS: Record<number, string> = {
  400: 'A field is missing or breaks a rule, or the body is malformed (bad JSON, not an object, not UTF-8).',
  401: 'app_secret does not match the app configured for app_id.',
  403: 'app_id is not configured, or the instance is not allowed for this app.',
  404: 'There is no registration for this instance_url, app_id and tag.',
  413: 'The body is larger than API_BODY_LIMIT_BYTES.',
  415: 'Content-Type is neither application/x-www-form-urlencoded nor application/json.',
  503: 'The database is unavailable.',
};

/** Documents the JSON error answers a route can give. */
export function ApiErrorResponses(
  ...statuses: (keyof typeof DESCRIPTIONS)[]
): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({ status, description: DESCRIPTIONS[status], type: ErrorResponseDto }),
    ),
  );
}
