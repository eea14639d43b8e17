import { BadRequestException, Inject, Injectable, Logger } from '@nestjs/common';
import { SETTINGS, Settings } from '@app/config';
import { RegistrationRepository } from '@app/database';
import { hashSecret } from '@app/security';
import { callDatabase } from './database-call';
import { RegisterDto } from './dto/register.dto';
import { normalizeInstanceUrl } from './instance-url';
import { RegistrationMetrics } from './registration-metrics.service';
import { RegistrationRules } from './registration-rules';

/**
 * POST /register: checks the app, the instance and the callback against the
 * current config, then writes the registration (or renews the existing one
 * with the same instance_url, app_id and tag) in one upsert.
 */
@Injectable()
export class RegisterRegistrationService {
  private readonly logger = new Logger(RegisterRegistrationService.name);

  constructor(
    private readonly rules: RegistrationRules,
    private readonly registrations: RegistrationRepository,
    private readonly metrics: RegistrationMetrics,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async register(request: RegisterDto): Promise<'created' | 'updated'> {
    const instanceUrl = normalizeInstanceUrl(request.instance_url);
    const app = this.rules.authenticateApp(request.app_id, request.app_secret);
    const grant = this.rules.authorizeInstance(instanceUrl, request.app_id);
    this.rules.checkInstanceAddress(instanceUrl, grant);
    // checked before anything is written: a Web Push registration without PUBLIC_URL could never receive a push
    if ((request.transport ?? grant.entry.transport) === 'webpush' && !this.settings.webPush.publicUrl)
      throw new BadRequestException(
        request.transport === 'webpush'
          ? 'transport "webpush" needs PUBLIC_URL, which this server does not set'
          : 'instance_url is configured for transport "webpush", which needs PUBLIC_URL, which this server does not set',
      );
    const callbackUrl = await this.rules.checkCallbackUrl(request.callback_url, app);
    const outcome = await callDatabase(this.logger, 'register', () =>
      this.registrations.upsert({
        instanceUrl,
        appId: request.app_id,
        tag: request.tag,
        accessToken: request.access_token,
        appSecretHash: hashSecret(request.app_secret),
        callbackUrl,
        endpoint: request.endpoint ?? null,
        transport: request.transport ?? null,
        lastUpdate: Date.now(),
      }),
    );
    this.metrics.record('register', outcome);
    this.logger.debug(`registration ${outcome}: ${instanceUrl} ${request.app_id} ${request.tag}`);
    return outcome;
  }
}
