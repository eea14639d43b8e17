import { StreamEndpoint, Transport } from '@app/config';

/** Identifies a registration the way app servers do. */
export interface RegistrationKey {
  instanceUrl: string;
  appId: string;
  tag: string;
}

/** A registration as the rest of the project sees it: the access token in the clear. */
export interface Registration extends RegistrationKey {
  id: number;
  lastUpdate: number;
  accessToken: string;
  appSecretHash: string;
  callbackUrl: string;
  endpoint: StreamEndpoint | null;
  /** The transport asked for; null or absent: the instance's (instance_map), else `stream`. */
  transport?: Transport | null;
  /**
   * The catch-up cursor as stored when the row was read: the newest Mastodon
   * id delivered or durably queued; null (or absent) before the first open.
   */
  lastNotificationId?: string | null;
  /** The listener ended it (state `removed`): nothing is opened for it until it is registered again. */
  removed?: boolean;
}

export interface RegistrationWrite extends RegistrationKey {
  accessToken: string;
  appSecretHash: string;
  callbackUrl: string;
  endpoint: StreamEndpoint | null;
  /** Absent: null (the instance's transport). */
  transport?: Transport | null;
  lastUpdate: number;
}

/** "instanceUrl appId tag": stable label for logs and metrics (no secret in it). */
export function registrationLabel(key: RegistrationKey): string {
  return `${key.instanceUrl} ${key.appId} ${key.tag}`;
}
