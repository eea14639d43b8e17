import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { bigintAsNumber } from './bigint.transformer';

export const REGISTRATIONS_TABLE = 'stream_listener_registrations';
/** The original program's unique index on (instanceUrl, appId, tag), kept by name. */
export const REGISTRATION_KEY_INDEX = 'iat';

/**
 * One app user's subscription: the original program's table and columns.
 * `accessToken` holds the token (AES-GCM sealed when a key is configured) and
 * `appSecret` only a hash of the app secret.
 */
@Entity({ name: REGISTRATIONS_TABLE })
@Index(REGISTRATION_KEY_INDEX, ['instanceUrl', 'appId', 'tag'], { unique: true })
export class RegistrationEntity {
  @PrimaryGeneratedColumn()
  id: number;

  /** Last time the app server registered this key, in ms since the epoch; drives expiry and change detection. */
  @Index('stream_listener_registrations_last_update')
  @Column({ type: 'bigint', default: 0, transformer: bigintAsNumber })
  lastUpdate: number;

  @Column({ type: 'varchar', length: 255 })
  instanceUrl: string;

  @Column({ type: 'varchar', length: 1024 })
  accessToken: string;

  @Column({ type: 'varchar', length: 255 })
  appId: string;

  @Column({ type: 'varchar', length: 255 })
  appSecret: string;

  @Column({ type: 'varchar', length: 1024 })
  callbackUrl: string;

  @Column({ type: 'varchar', length: 255 })
  tag: string;

  /** Stream asked for at registration; null means "decide from config and instance version". */
  @Column({ type: 'varchar', length: 255, nullable: true })
  endpoint: string | null;

  /** Transport asked for at registration (`stream`, `webpush`); null means "the instance's, else stream". */
  @Column({ type: 'varchar', length: 16, nullable: true })
  transport: string | null;

  /** Catch-up cursor: newest Mastodon id delivered or durably queued (see the catch-up migration). */
  @Column({ type: 'varchar', length: 64, nullable: true })
  lastNotificationId: string | null;

  /** Lifecycle, written by the listener (see RegistrationStateRepository); null until it first saw the row. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  state: string | null;

  /** When `state` was entered, ms since the epoch. */
  @Column({ type: 'bigint', nullable: true, transformer: bigintAsNumber })
  stateSince: number | null;

  /** The last failure of the stream (never a token or a secret). */
  @Column({ type: 'varchar', length: 500, nullable: true })
  lastError: string | null;

  /** When an event was last handed to the callback, ms since the epoch. */
  @Column({ type: 'bigint', nullable: true, transformer: bigintAsNumber })
  lastRelayedAt: number | null;

  /** The listener holding the stream. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  heldBy: string | null;

  /** The stream the listener opened (the registration's endpoint, or the one decided from config and version). */
  @Column({ type: 'varchar', length: 32, nullable: true })
  endpointInUse: string | null;

  /** Why a `removed` registration ended: revoked, scope, expired, config. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  removalReason: string | null;

  @CreateDateColumn()
  createdAt: Date;

  @UpdateDateColumn()
  updatedAt: Date;
}
