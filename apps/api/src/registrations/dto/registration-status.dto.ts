import { ApiProperty } from '@nestjs/swagger';
import { REGISTRATION_STATES, REMOVAL_REASONS } from '@app/database';
import { UnregisterDto } from './unregister.dto';

/** Body of POST /status: the same four fields as /unregister (form or JSON). */
export class StatusRequestDto extends UnregisterDto {}

/** What POST /status answers: the registration's life as the listener last recorded it. Never its token. */
export class RegistrationStatusDto {
  @ApiProperty({
    enum: REGISTRATION_STATES,
    example: 'streaming',
    description:
      '`connecting`: registered, its stream (or push subscription) is opening (also before the listener first saw it); `streaming`: the stream is open; ' +
      '`subscribed`: the Web Push subscription is made, the instance pushes to this server; ' +
      '`retrying`: the stream failed or dropped and reconnects with backoff; `unauthorized`: Mastodon refused the token and the ' +
      'registration is being removed; `removed`: it ended (see `removalReason`) and relays nothing until registered again.',
  })
  state: string;

  @ApiProperty({
    example: '2026-12-01T09:30:00.000Z',
    description: 'When the registration entered this state.',
  })
  since: string;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'user:notification',
    description:
      'The stream in use: `user` and `user:notification` carry `notification`; `direct` carries `conversation` only. ' +
      "Null until the listener has decided it (from the instance's config and version) when the registration asked for none.",
  })
  endpoint: string | null;

  @ApiProperty({
    enum: ['stream', 'webpush'],
    example: 'stream',
    description:
      'How events reach this server now: `stream` (a WebSocket held for the user) or `webpush` (the instance pushes to ' +
      'PUBLIC_URL; no socket held). A `webpush` registration the instance refused (no `push` scope, too old) says ' +
      '`stream`, with the refusal in `lastError`.',
  })
  transport: 'stream' | 'webpush';

  @ApiProperty({
    example: '2026-12-04T09:29:58.000Z',
    description:
      'When the registration expires unless registered again (REGISTRATION_TTL_HOURS after the last registration).',
  })
  expiresAt: string;

  @ApiProperty({
    type: String,
    nullable: true,
    example: '2026-12-01T10:02:11.417Z',
    description: 'When an event of this registration was last handed to its callback.',
  })
  lastRelayedAt: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'stream closed with code 1006',
    description:
      'The last failure of its stream, kept after it recovered (never a token or a secret).',
  })
  lastError: string | null;

  @ApiProperty({
    enum: REMOVAL_REASONS,
    nullable: true,
    example: null,
    description:
      'Why a `removed` registration ended: `revoked` (Mastodon refused the token), `scope` (the token may not read ' +
      'notifications), `expired` (not registered again in time), `config` (its app or instance is no longer allowed). Null otherwise.',
  })
  removalReason: string | null;
}
