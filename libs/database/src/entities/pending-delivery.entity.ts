import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { bigintAsNumber } from './bigint.transformer';

export const DELIVERIES_TABLE = 'stream_listener_deliveries';

/**
 * A relayed event that was not delivered on its first attempt (or was still
 * waiting at shutdown). Rows of one registration are delivered in `id` order.
 */
@Entity({ name: DELIVERIES_TABLE })
@Index('stream_listener_deliveries_registration', ['registrationId', 'id'])
@Index('stream_listener_deliveries_next_attempt', ['nextAttemptAt'])
export class PendingDeliveryEntity {
  /** Generated as BIGINT; read as a string, compared as a number. */
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ type: 'int' })
  registrationId: number;

  /** Standard Webhooks `webhook-id`: the same on every attempt of this event. */
  @Column({ type: 'varchar', length: 64 })
  webhookId: string;

  @Column({ type: 'varchar', length: 64 })
  event: string;

  /** The exact JSON body POSTed to the callback. */
  @Column({ type: 'text' })
  body: string;

  @Column({ type: 'int', default: 0 })
  attempts: number;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  receivedAt: number;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  nextAttemptAt: number;

  /** After this time the event is dropped (logged and counted). */
  @Column({ type: 'bigint', transformer: bigintAsNumber })
  deadlineAt: number;

  @Column({ type: 'varchar', length: 255, nullable: true })
  lastError: string | null;
}
