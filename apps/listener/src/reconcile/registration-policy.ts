import { AppConfigService, InstanceEntry } from '@app/config';
import { Registration } from '@app/database';
import { hashSecret, isHashedSecret, secretsEqual } from '@app/security';

export type PolicyVerdict =
  { allowed: true; instance: InstanceEntry } | { allowed: false; reason: string };

/**
 * Whether the current config still allows a registration: its app is in
 * app_map, the app's secret is the one it registered with (a rotated secret
 * retires the app's registrations), and instance_map allows the instance for
 * that app. A registration that fails stays in the table but streams nothing.
 */
export class RegistrationPolicy {
  /** sha256 of each app's current secret, recomputed only when the secret changes. */
  private readonly secretHashes = new Map<string, { secret: string; hash: string }>();

  constructor(private readonly config: AppConfigService) {}

  evaluate(registration: Registration): PolicyVerdict {
    const app = this.config.findApp(registration.appId);
    if (!app) return { allowed: false, reason: 'app is no longer in app_map' };
    if (!this.secretMatches(registration, app.secret)) {
      return { allowed: false, reason: 'app secret changed since the registration' };
    }
    const access = this.config.instanceAccess(registration.instanceUrl, registration.appId);
    if (!access.allowed) return { allowed: false, reason: access.reason };
    return { allowed: true, instance: access.entry };
  }

  private secretMatches(registration: Registration, secret: string): boolean {
    const stored = registration.appSecretHash;
    // rows written by the original program hold the secret itself
    if (!isHashedSecret(stored)) return secretsEqual(stored ?? '', secret);
    let cached = this.secretHashes.get(registration.appId);
    if (!cached || cached.secret !== secret) {
      cached = { secret, hash: hashSecret(secret) };
      this.secretHashes.set(registration.appId, cached);
    }
    return secretsEqual(stored, cached.hash);
  }
}
