/**
 * Where a registration is in its life, as the listener records it:
 * - `connecting`: registered (or its token or endpoint changed), its first stream is opening;
 * - `streaming`: its stream is open;
 * - `subscribed`: its Web Push subscription is made: the instance pushes, no stream is held;
 * - `retrying`: its stream failed or dropped and is reconnecting with backoff;
 * - `unauthorized`: Mastodon refused its token; it is being removed (it stays in this
 *   state only when it was renewed meanwhile, until the new token's stream opens);
 * - `removed`: it ended (see RemovalReason); the row is kept for a while so that its
 *   app server can ask why, then deleted.
 */
export const REGISTRATION_STATES = [
  'connecting',
  'streaming',
  'subscribed',
  'retrying',
  'unauthorized',
  'removed',
] as const;
export type RegistrationState = (typeof REGISTRATION_STATES)[number];

/**
 * Why a registration ended (other than /unregister, which deletes it):
 * - `revoked`: Mastodon refused the token (invalid, revoked, or expired on its side);
 * - `scope`: the token is valid but may not read notifications;
 * - `expired`: not renewed within REGISTRATION_TTL_HOURS;
 * - `config`: its app or instance is no longer allowed by app_map / instance_map (or the app secret changed);
 * - `gone`: its callback answered 410 Gone.
 */
/** The lifecycle columns, as a TypeORM `select` (reads of /status, the admin CLI and the status page). */
export const LIFECYCLE_COLUMNS = {
  state: true,
  stateSince: true,
  lastError: true,
  lastRelayedAt: true,
  heldBy: true,
  endpointInUse: true,
  removalReason: true,
} as const;

export const REMOVAL_REASONS = ['revoked', 'scope', 'expired', 'config', 'gone'] as const;
export type RemovalReason = (typeof REMOVAL_REASONS)[number];

/** What POST /status reads. */
export interface RegistrationStatusRecord {
  id: number;
  lastUpdate: number;
  endpoint: string | null;
  state: RegistrationState | null;
  stateSince: number | null;
  lastError: string | null;
  lastRelayedAt: number | null;
  heldBy: string | null;
  endpointInUse: string | null;
  removalReason: RemovalReason | null;
  appSecretHash: string;
}
