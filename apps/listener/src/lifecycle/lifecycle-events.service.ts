import { Injectable } from '@nestjs/common';
import { CallbackDispatcher, relayTargetOf } from '@app/callback';
import { AppConfigService } from '@app/config';
import { Registration, RemovalReason } from '@app/database';

export const REGISTRATION_REMOVED_EVENT = 'registration.removed';

/**
 * Tells an app's callback that one of its registrations ended, when the app
 * asked for it (`lifecycleEvents: true` in app_map). The event goes through
 * the same dispatcher as notifications: signed, retried from the retry table,
 * with a webhook-id derived from the registration and its removal.
 */
@Injectable()
export class LifecycleEventsService {
  constructor(
    private readonly config: AppConfigService,
    private readonly dispatcher: CallbackDispatcher,
  ) {}

  /** Returns whether an event was sent (the app opted in). */
  registrationRemoved(registration: Registration, reason: RemovalReason, at = Date.now()): boolean {
    if (this.config.findApp(registration.appId)?.lifecycleEvents !== true) return false;
    this.dispatcher.dispatch({
      ...relayTargetOf(registration),
      event: REGISTRATION_REMOVED_EVENT,
      payload: { reason },
      // one removal per registration as registered (its lastUpdate): the same removal told
      // twice (a restart before it was stored) carries the same derived webhook-id
      objectId: `removed@${registration.lastUpdate}`,
      receivedAt: at,
    });
    return true;
  }
}
