import {
  BadRequestException,
  ForbiddenException,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { lookup } from 'node:dns/promises';
import { AppConfigService, AppEntry, InstanceAccess } from '@app/config';
import { checkCallbackTarget, literalHostIsPublic, secretsEqual } from '@app/security';

export type InstanceGrant = Extract<InstanceAccess, { allowed: true }>;

/** A slow resolver must not hold a registration request (and its connection) for long. */
const RESOLVE_TIMEOUT_MS = 3_000;

/** Instance URLs are few and repeat; the literal-address check costs tens of µs each time. */
const ADDRESS_CACHE_LIMIT = 10_000;

async function resolveHost(host: string): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    // Stryker disable next-line StringLiteral: never shown; a failed lookup is answered "does not resolve" whatever its error
    timer = setTimeout(() => reject(new Error('DNS lookup timed out')), RESOLVE_TIMEOUT_MS);
  });
  try {
    const results = await Promise.race([lookup(host, { all: true, verbatim: true }), timeout]);
    return results.map((result) => result.address);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The checks /register and /unregister share, run after the body's shape is
 * valid, against the config as it is now (it changes on SIGHUP).
 */
@Injectable()
export class RegistrationRules {
  private readonly literalHostPublic = new Map<string, boolean | undefined>();

  constructor(private readonly config: AppConfigService) {}

  /** The app's entry when app_secret is its secret: 403 for an unknown app, 401 for a wrong secret. */
  authenticateApp(appId: string, appSecret: string): AppEntry {
    const app = this.config.findApp(appId);
    if (!app) throw new ForbiddenException('app_id is not configured');
    if (!secretsEqual(appSecret, app.secret))
      throw new UnauthorizedException('app_secret does not match');
    return app;
  }

  /** The instance_map entry that lets `appId` use `instanceUrl` (normalized); 403 otherwise. */
  authorizeInstance(instanceUrl: string, appId: string): InstanceGrant {
    const access = this.config.instanceAccess(instanceUrl, appId);
    if (!access.allowed)
      throw new ForbiddenException(`instance_url is not allowed: ${access.reason}`);
    return access;
  }

  /**
   * An instance written as a loopback, private or link-local address (or
   * localhost) is refused unless its own exact instance_map entry allows it, or
   * names both replaceUrl and replaceUrlWeb (then the instance URL itself is never contacted).
   * Host names are not resolved here: the listener checks what it connects to.
   */
  checkInstanceAddress(instanceUrl: string, grant: InstanceGrant): void {
    if (this.isLiteralPublic(instanceUrl) !== false) return;
    const entry = grant.entry;
    if (
      grant.exact &&
      (entry.allowPrivateAddress === true || (entry.replaceUrl && entry.replaceUrlWeb))
    )
      return;
    throw new BadRequestException(
      'instance_url must not be a loopback, private or link-local address unless its instance_map entry allows it',
    );
  }

  private isLiteralPublic(instanceUrl: string): boolean | undefined {
    // Stryker disable next-line ConditionalExpression: a cache; working the answer out again gives the same one
    if (this.literalHostPublic.has(instanceUrl)) return this.literalHostPublic.get(instanceUrl);
    const result = literalHostIsPublic(new URL(instanceUrl));
    // Stryker disable next-line ConditionalExpression,EqualityOperator: bounds the cache's memory only; every answer stays the same
    if (this.literalHostPublic.size >= ADDRESS_CACHE_LIMIT) this.literalHostPublic.clear();
    this.literalHostPublic.set(instanceUrl, result);
    return result;
  }

  /**
   * callback_url must lie under the app's callbackUrlPrefix, or (without one)
   * resolve to public addresses only. Returns it normalised, as it is stored
   * and as the listener will match it again before each delivery.
   */
  async checkCallbackUrl(callbackUrl: string, app: AppEntry): Promise<string> {
    const check = await checkCallbackTarget(callbackUrl, app.callbackUrlPrefix, resolveHost);
    if (!check.ok) throw new BadRequestException(`callback_url ${check.reason}`);
    return new URL(callbackUrl).href; // it parsed, or the check above would have failed
  }
}
