import { StreamEndpoint } from '@app/config';

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
  /**
   * The catch-up cursor as stored when the row was read: the newest Mastodon
   * id delivered or durably queued; null (or absent) before the first open.
   */
  lastNotificationId?: string | null;
}

export interface RegistrationWrite extends RegistrationKey {
  accessToken: string;
  appSecretHash: string;
  callbackUrl: string;
  endpoint: StreamEndpoint | null;
  lastUpdate: number;
}

/** "instanceUrl appId tag": stable label for logs and metrics (no secret in it). */
export function registrationLabel(key: RegistrationKey): string {
  return `${key.instanceUrl} ${key.appId} ${key.tag}`;
}
