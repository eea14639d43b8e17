import { Inject, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { AppConfigService, SETTINGS, Settings } from '@app/config';
import { PushSubscriptionRepository, RegistrationStateRepository } from '@app/database';
import { callDatabase } from './database-call';
import { RegistrationStatusDto, StatusRequestDto } from './dto/registration-status.dto';
import { normalizeInstanceUrl } from './instance-url';
import { RegistrationMetrics } from './registration-metrics.service';
import { RegistrationRules } from './registration-rules';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * POST /status: an app with the right secret asks how one of its
 * registrations is doing, as the listener last recorded it (at most a second
 * or so old). Authenticated exactly as /unregister.
 */
@Injectable()
export class RegistrationStatusService {
  private readonly logger = new Logger(RegistrationStatusService.name);
  private readonly ttlMs: number;

  constructor(
    private readonly rules: RegistrationRules,
    private readonly states: RegistrationStateRepository,
    private readonly config: AppConfigService,
    private readonly metrics: RegistrationMetrics,
    @Inject(SETTINGS) settings: Settings,
    private readonly pushSubscriptions: PushSubscriptionRepository,
  ) {
    this.ttlMs = settings.registrationTtlHours * 3_600_000;
  }

  async status(request: StatusRequestDto): Promise<RegistrationStatusDto> {
    const instanceUrl = normalizeInstanceUrl(request.instance_url);
    this.rules.authenticateApp(request.app_id, request.app_secret);
    const record = await callDatabase(this.logger, 'status', () =>
      this.states.findStatusByKey({ instanceUrl, appId: request.app_id, tag: request.tag }),
    );
    // counted as not_found by the exception filter, with the other error answers
    if (!record)
      throw new NotFoundException('no registration for this instance_url, app_id and tag');
    // a live (or pending) push subscription means Web Push; none, or one the instance refused, the stream
    const subscription = await callDatabase(this.logger, 'status', () =>
      this.pushSubscriptions.findByRegistration(record.id),
    );
    const transport = subscription && subscription.state !== 'refused' ? 'webpush' : 'stream';
    this.metrics.record('status', 'found');
    const endpoint =
      record.endpointInUse ??
      record.endpoint ??
      this.config.findInstance(instanceUrl)?.entry.endpoint ??
      null;
    return {
      // a row the listener has not recorded yet is waiting for its stream, since it was registered
      state: record.state ?? 'connecting',
      since: iso(record.state ? (record.stateSince ?? record.lastUpdate) : record.lastUpdate)!,
      endpoint,
      transport,
      expiresAt: iso(record.lastUpdate + this.ttlMs)!,
      lastRelayedAt: iso(record.lastRelayedAt),
      lastError: record.lastError,
      removalReason: record.state === 'removed' ? record.removalReason : null,
    };
  }
}
