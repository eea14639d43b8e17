import { Inject, Injectable, Logger } from '@nestjs/common';
import { SETTINGS, Settings } from '@app/config';
import {
  Registration,
  registrationLabel,
  RegistrationStateRepository,
  RemovalReason,
} from '@app/database';
import { LifecycleEventsService } from './lifecycle-events.service';
import { LifecycleMetrics } from './lifecycle.metrics';
import { RegistrationStateRecorder } from './registration-state.recorder';

/**
 * Ends registrations, whatever ended them: the one place where a removal is
 * written (state `removed` and its reason), counted
 * (msl_registrations_removed_total{reason}), logged once, and announced to
 * apps that asked for lifecycle events. The caller closes the stream first.
 *
 * A removed row is kept as a record for CALLBACK_RETRY_DEADLINE_HOURS, as long
 * as its removal event may be retried and so that its app server can ask
 * /status why; registering it again brings it back.
 */
@Injectable()
export class RegistrationRemovalService {
  private readonly logger = new Logger(RegistrationRemovalService.name);
  private readonly keepRemovedMs: number;

  constructor(
    private readonly states: RegistrationStateRepository,
    private readonly recorder: RegistrationStateRecorder,
    private readonly events: LifecycleEventsService,
    private readonly metrics: LifecycleMetrics,
    @Inject(SETTINGS) settings: Settings,
  ) {
    this.keepRemovedMs = settings.callback.retryDeadlineHours * 3_600_000;
  }

  /**
   * Ends `registration` as it was read (a row renewed since is kept: its new
   * token or callback deserves a try). `detail` is for the log and lastError
   * and must hold no secret. Resolves to whether it was removed; never rejects.
   */
  async remove(
    registration: Registration,
    reason: RemovalReason,
    detail: string,
  ): Promise<boolean> {
    const label = registrationLabel(registration);
    this.recorder.forget(registration.id);
    const now = Date.now();
    try {
      const removed = await this.states.markRemoved(
        registration.id,
        registration.lastUpdate,
        reason,
        now,
        detail,
      );
      if (!removed) {
        this.logger.log(
          `registration ${label} was renewed or removed meanwhile: kept as it is (${detail})`,
        );
        return false;
      }
    } catch (error) {
      this.logger.error(
        `registration ${label} could not be marked removed (${reason}): ${(error as Error).message}`,
      );
      return false;
    }
    this.metrics.registrationsRemoved(reason);
    // after a 410 the receiver wants nothing more about this user, a removal event included
    const announced =
      reason !== 'gone' && this.events.registrationRemoved(registration, reason, now);
    this.logger.log(
      `registration ${label} removed (${reason}): ${detail}${announced ? '; registration.removed sent' : ''}`,
    );
    return true;
  }

  /**
   * Ends the registrations of `ids` not renewed since `before` (ms). `known`
   * gives the rows as last read, for the lifecycle events. Returns the ids removed.
   */
  async expire(
    ids: number[],
    before: number,
    known: (id: number) => Registration | undefined,
  ): Promise<number[]> {
    for (const id of ids) this.recorder.forget(id);
    const now = Date.now();
    const marked = await this.states.markExpired(ids, before, now);
    if (marked.length === 0) return marked;
    this.metrics.registrationsRemoved('expired', marked.length);
    let announced = 0;
    for (const id of marked) {
      const registration = known(id);
      if (registration && this.events.registrationRemoved(registration, 'expired', now))
        // Stryker disable next-line AssignmentOperator: counted for the log line only
        announced += 1;
    }
    this.logger.log(
      `${marked.length} registration(s) removed (expired)` +
        (announced > 0 ? `; registration.removed sent for ${announced}` : ''),
    );
    return marked;
  }

  /**
   * The callback answered 410: its receiver dropped this user. Ended like any
   * removal, recorded as `gone` so that /status says why, but announced to nobody.
   */
  gone(registration: Registration): Promise<boolean> {
    return this.remove(registration, 'gone', 'the callback answered 410 Gone');
  }

  /** Deletes the rows removed longer ago than they are kept. */
  async purge(now = Date.now()): Promise<void> {
    const deleted = await this.states.deleteRemovedBefore(now - this.keepRemovedMs);
    // Stryker disable next-line ConditionalExpression,EqualityOperator: chooses whether a log line is written
    if (deleted > 0)
      this.logger.log(
        `${deleted} removed registration(s) deleted after ${this.keepRemovedMs / 3_600_000} h`,
      );
  }
}
