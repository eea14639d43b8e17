import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptions } from '@nestjs/swagger';
import { IsDefined } from 'class-validator';
import {
  FieldRule,
  FieldRules,
  httpOrigin,
  isString,
  maxBytes,
  noControlCharacters,
  noInvisibleFormatting,
  notEmpty,
  noWhitespace,
  REQUIRED_MESSAGE,
  wellFormed,
} from './field-rules';

/**
 * A required string field: documented, then checked in the order of `rules`.
 * Every field must be well-formed first: what is stored is what was sent.
 */
export function RequiredField(api: ApiPropertyOptions, ...rules: FieldRule[]): PropertyDecorator {
  return applyDecorators(
    ApiProperty({ type: String, required: true, ...api } as ApiPropertyOptions),
    IsDefined({ message: REQUIRED_MESSAGE }),
    FieldRules(isString, notEmpty, wellFormed, ...rules),
  );
}

export const InstanceUrlField = (): PropertyDecorator =>
  RequiredField(
    {
      description:
        'Origin of the Mastodon instance (http or https, no path, query or fragment; a trailing slash is removed). Stored lower-case. At most 255 bytes (UTF-8).',
      example: 'http://127.0.0.1:3000',
      maxLength: 255,
    },
    maxBytes(255),
    noWhitespace,
    httpOrigin,
  );

export const TagField = (): PropertyDecorator =>
  RequiredField(
    {
      description:
        "The app server's name for this user's registration; with instance_url and app_id the unique key. At most 255 bytes (UTF-8); no control or invisible formatting characters.",
      example: 'user-42-device-7',
      maxLength: 255,
    },
    maxBytes(255),
    noControlCharacters,
    noInvisibleFormatting,
  );

export const AppIdField = (): PropertyDecorator =>
  RequiredField(
    {
      description: 'An app id configured in app_map.hjson. At most 255 bytes (UTF-8); no control or invisible formatting characters.',
      example: 'local.trial',
      maxLength: 255,
    },
    maxBytes(255),
    noControlCharacters,
    noInvisibleFormatting,
  );

export const AppSecretField = (): PropertyDecorator =>
  RequiredField(
    {
      description:
        "The app's secret from app_map.hjson. Compared in constant time; stored only as a hash; never echoed. At most 255 bytes (UTF-8).",
      format: 'password',
      example: 'change-this-local-trial-secret',
      maxLength: 255,
    },
    maxBytes(255),
  );
