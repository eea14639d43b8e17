import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from './bigint.transformer';

export const PUSH_SUBSCRIPTIONS_TABLE = 'stream_listener_push_subscriptions';
export const PUSH_ID_INDEX = 'stream_listener_push_subscriptions_push_id';

/**
 * A registration's Web Push subscription at its instance: the receiving key
 * pair and auth secret (RFC 8291), the unguessable id in the endpoint URL,
 * and the instance's VAPID key. One per registration; written by the listener
 * that owns the registration, read by the api when a push arrives.
 */
@Entity({ name: PUSH_SUBSCRIPTIONS_TABLE })
@Index(PUSH_ID_INDEX, ['pushId'], { unique: true })
export class PushSubscriptionEntity {
  @PrimaryColumn({ type: 'int' })
  registrationId: number;

  /** The last path segment of `{PUBLIC_URL}/push/<pushId>`: 32 random bytes, base64url. */
  @Column({ type: 'varchar', length: 64 })
  pushId: string;

  /** Uncompressed P-256 public key, base64url (subscription[keys][p256dh]). */
  @Column({ type: 'varchar', length: 128 })
  publicKey: string;

  /** The P-256 private key, base64url, sealed like access tokens. */
  @Column({ type: 'varchar', length: 255 })
  privateKey: string;

  /** The 16-byte auth secret, base64url, sealed like access tokens (subscription[keys][auth]). */
  @Column({ type: 'varchar', length: 255 })
  authSecret: string;

  /** The instance's VAPID public key (`server_key` of its answer), base64url; null until subscribed. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  serverKey: string | null;

  /** `subscribing`, `subscribed` or `refused` (the registration fell back to the stream). */
  @Column({ type: 'varchar', length: 16 })
  state: string;

  /** Hash of the access token subscribed with: a changed token replaces the subscription. */
  @Column({ type: 'varchar', length: 128 })
  tokenHash: string;

  /** Why the instance refused, or the last failure (never a token or a key). */
  @Column({ type: 'varchar', length: 500, nullable: true })
  lastError: string | null;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  updatedAt: number;
}
