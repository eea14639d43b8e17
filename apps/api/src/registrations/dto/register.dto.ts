import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { STREAM_ENDPOINTS, StreamEndpoint, Transport, TRANSPORTS } from '@app/config';
import {
  accessTokenCharacters,
  FieldRules,
  httpUrl,
  isString,
  maxBytes,
  noWhitespace,
  oneOf,
} from './field-rules';
import {
  AppIdField,
  AppSecretField,
  InstanceUrlField,
  RequiredField,
  TagField,
} from './registration-fields';

/** Body of POST /register (form or JSON); other fields are ignored. Fields are checked in this order. */
export class RegisterDto {
  @InstanceUrlField()
  instance_url: string;

  @TagField()
  tag: string;

  @AppIdField()
  app_id: string;

  @AppSecretField()
  app_secret: string;

  @RequiredField(
    {
      description:
        "The user's Mastodon access token. At most 512 bytes of printable ASCII; no spaces or any of ? & = /. Never echoed; stored encrypted when TOKEN_ENCRYPTION_KEY is set.",
      format: 'password',
      example: 'local-trial-token',
      maxLength: 512,
    },
    maxBytes(512),
    accessTokenCharacters,
  )
  access_token: string;

  @RequiredField(
    {
      description:
        "Where notifications are POSTed. http or https; at most 1024 bytes. Must start with the app's callbackUrlPrefix when one is configured, else resolve to public addresses only.",
      example: 'http://127.0.0.1:8080/callback',
      maxLength: 1024,
    },
    maxBytes(1024),
    noWhitespace,
    httpUrl,
  )
  callback_url: string;

  @ApiPropertyOptional({
    enum: STREAM_ENDPOINTS,
    example: 'user:notification',
    description:
      'Stream to listen to. `user` and `user:notification` carry `notification`; `direct` carries `conversation` only ' +
      "(no `notification`, no `delete`). Absent: the instance's configured endpoint, else user:notification on Mastodon " +
      '1.4.2 or newer, else user. The token needs `read:notifications` (user:notification), `read` (user; or ' +
      '`read:statuses` and `read:notifications`) or `read:statuses` (direct); a token Mastodon refuses ends the registration (see /status).',
  })
  @IsOptional()
  @FieldRules(isString, oneOf(STREAM_ENDPOINTS))
  endpoint?: StreamEndpoint;

  @ApiPropertyOptional({
    enum: TRANSPORTS,
    example: 'stream',
    description:
      '`stream`: a WebSocket to the instance is held for this user. `webpush`: the instance pushes each notification ' +
      '(encrypted Web Push) to this server at PUBLIC_URL, no socket is held; needs PUBLIC_URL on this server and a token ' +
      "with the `push` scope; a registration the instance refuses falls back to `stream` (see /status). Absent: the instance's " +
      'configured transport, else `stream`.',
  })
  @IsOptional()
  @FieldRules(isString, oneOf(TRANSPORTS))
  transport?: Transport;
}
