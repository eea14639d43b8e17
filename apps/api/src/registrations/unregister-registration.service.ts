import { Injectable, Logger } from '@nestjs/common';
import { RegistrationRepository } from '@app/database';
import { callDatabase } from './database-call';
import { UnregisterDto } from './dto/unregister.dto';
import { normalizeInstanceUrl } from './instance-url';
import { RegistrationMetrics } from './registration-metrics.service';
import { RegistrationRules } from './registration-rules';

/**
 * POST /unregister: an app with the right secret removes one of its
 * registrations; the listener closes the stream on its next poll. The instance
 * need not be allowed any more: an app must be able to clean up after a config change.
 */
@Injectable()
export class UnregisterRegistrationService {
  private readonly logger = new Logger(UnregisterRegistrationService.name);

  constructor(
    private readonly rules: RegistrationRules,
    private readonly registrations: RegistrationRepository,
    private readonly metrics: RegistrationMetrics,
  ) {}

  async unregister(request: UnregisterDto): Promise<'removed' | 'not_found'> {
    const instanceUrl = normalizeInstanceUrl(request.instance_url);
    this.rules.authenticateApp(request.app_id, request.app_secret);
    const removed = await callDatabase(this.logger, 'unregister', () =>
      this.registrations.deleteByKey({ instanceUrl, appId: request.app_id, tag: request.tag }),
    );
    const outcome = removed ? 'removed' : 'not_found';
    this.metrics.record('unregister', outcome);
    this.logger.debug(`unregistration ${outcome}: ${instanceUrl} ${request.app_id} ${request.tag}`);
    return outcome;
  }
}
