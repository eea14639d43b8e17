import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { bigintAsNumber } from './bigint.transformer';

export const RECEIVED_PUSHES_TABLE = 'stream_listener_received_pushes';
/** One row per notification and registration: a replayed push finds its row and is not relayed again. */
export const RECEIVED_PUSH_KEY_INDEX = 'stream_listener_received_pushes_key';

/**
 * A Web Push that the api decrypted, checked and stored before answering the
 * instance 201. The listener that owns the registration relays it and stamps
 * `relayedAt`; the row stays until PUSH_RETENTION_HOURS so that a replay is recognised.
 */
@Entity({ name: RECEIVED_PUSHES_TABLE })
@Index(RECEIVED_PUSH_KEY_INDEX, ['registrationId', 'notificationId'], { unique: true })
export class ReceivedPushEntity {
  /** Generated as BIGINT; read as a string, compared as a number. */
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ type: 'int' })
  registrationId: number;

  /** `notification_id` of the push payload: the Mastodon notification to fetch. */
  @Column({ type: 'varchar', length: 64 })
  notificationId: string;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  receivedAt: number;

  /** When the listener handed it on (or found nothing to relay); null while it waits. */
  @Column({ type: 'bigint', nullable: true, transformer: bigintAsNumber })
  relayedAt: number | null;
}
