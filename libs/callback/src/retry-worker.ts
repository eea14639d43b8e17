import { Logger } from '@nestjs/common';
import type { Gauge } from 'prom-client';
import {
  PendingDeliveryEntity,
  PendingDeliveryRepository,
  RegistrationRepository,
} from '@app/database';
import { MetricsService } from '@app/observability';
import { CallbackHostRecovery } from './callback-host-recovery';
import type { CallbackDeliveryService } from './callback-delivery.service';
import type { CallbackOutcomes } from './callback-outcomes';
import type { Lane } from './delivery-lane';
import { AttemptVerdict, BackoffOptions, nextAttemptAt } from './retry-policy';

/** Durable lanes being drained at once. */
const MAX_CONCURRENT_DRAINS = 256;
/** Stored rows a drain reads (and deletes, once sent) per statement. */
const DRAIN_BATCH = 50;

/** What the retry worker needs from the owner of the lanes (the dispatcher). */
export interface LaneOwner {
  /** False until the registrations with stored rows are known: nothing may be sent before. */
  ready(): Promise<boolean>;
  isStopping(): boolean;
  /**
   * The lane of `registrationId` for a drain, made durable (what waits in
   * memory goes to the table behind the stored rows); undefined when it must
   * not be drained now (removed after a 410, or a request of it is in flight).
   */
  claim(registrationId: number): Lane | undefined;
  isCurrent(lane: Lane): boolean;
  /** Whether this process delivers `registrationId` (with several listeners, only its owner does). */
  owns(registrationId: number): boolean;
  /** Processes sharing the retry table: a round reads this many times more heads, then keeps its own. */
  members(): number;
  setBusy(lane: Lane, busy: boolean): void;
  /** A drain of `lane` ended: first attempts may resume if it went back to memory mode. */
  drained(lane: Lane): void;
  forgetRegistration(registrationId: number): void;
  registrationGone(lane: Lane, appId: string): void;
}

/**
 * Sends what waits in the retry table: every poll it starts a drain for each
 * due head (one registration at a time each, in id order). When more heads
 * are due than it may drain at once it starts the next round as soon as half
 * of its drains are done instead of a poll later, and when a callback host
 * that failed answers again, the rows waiting on that host's backoff are made
 * due at once (CallbackHostRecovery): a receiver that is back gets its whole
 * backlog at full speed, each registration still in order.
 */
export class RetryWorker {
  private readonly logger = new Logger('CallbackDispatcher');
  private readonly hosts = new CallbackHostRecovery();
  private readonly queueDepth: Gauge;
  private readonly queueOldestAge: Gauge;
  private timer?: NodeJS.Timeout;
  private ticking = false;
  /** Start another round as soon as the running one ends. */
  private again = false;
  /** The last round found more due heads than it could start. */
  private moreDue = false;
  private activeDrains = 0;
  private stopped = false;

  constructor(
    private readonly lanes: LaneOwner,
    private readonly delivery: Pick<CallbackDeliveryService, 'attempt'>,
    private readonly pending: PendingDeliveryRepository,
    private readonly registrations: RegistrationRepository,
    private readonly outcomes: CallbackOutcomes,
    private readonly backoff: BackoffOptions,
    metrics: MetricsService,
  ) {
    this.queueDepth = metrics.gauge(
      'msl_retry_queue_depth',
      'Events waiting in the callback retry table',
    );
    this.queueOldestAge = metrics.gauge(
      'msl_retry_queue_oldest_age_seconds',
      'Age of the oldest event waiting in the callback retry table (0 when it is empty)',
    );
  }

  start(pollIntervalMs: number): void {
    this.timer = setInterval(() => void this.tick(), pollIntervalMs);
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** A request of `registrationId` to `callbackUrl` failed: its head waits on a backoff now. */
  failedAt(registrationId: number, callbackUrl: string, verdict: AttemptVerdict): void {
    // a Retry-After is the host's own wish; only plain backoffs are cut short when it answers
    if (verdict.kind === 'retry' && verdict.retryAfterMs === undefined)
      this.hosts.failed(registrationId, callbackUrl);
  }

  /** A request to `callbackUrl` got an answer: the host is there, whatever waited on its backoff is due now. */
  answeredAt(callbackUrl: string): void {
    const waiting = this.hosts.answered(callbackUrl);
    if (waiting.length === 0) return;
    this.pending.makeDue(waiting, Date.now()).then(
      () => {
        this.logger.log(
          `callback host ${new URL(callbackUrl).origin} answers again: the stored callbacks of ${waiting.length} registration(s) are due now`,
        );
        this.soon();
      },
      (error: unknown) => {
        for (const id of waiting) this.hosts.failed(id, callbackUrl);
        this.logger.error(`stored callbacks could not be made due: ${(error as Error).message}`);
      },
    );
  }

  forget(registrationId: number): void {
    this.hosts.forget(registrationId);
  }

  /** At start: the registrations with stored rows wait on their hosts until one of those answers. */
  async trackStored(registrationIds: number[]): Promise<void> {
    try {
      for (const registration of await this.registrations.findByIds(registrationIds))
        this.hosts.failed(registration.id, registration.callbackUrl);
    } catch (error) {
      this.logger.error(`callback hosts of stored callbacks not read: ${(error as Error).message}`);
    }
  }

  /** One round: refresh the depth gauge, then start a drain for each due head not already busy. */
  async tick(): Promise<void> {
    if (this.ticking || this.stopped || this.lanes.isStopping()) return;
    this.ticking = true;
    try {
      if (!(await this.lanes.ready())) return;
      const queue = await this.pending.depthAndOldest();
      this.queueDepth.set(queue.depth);
      this.queueOldestAge.set(queue.oldestReceivedAt === null ? 0 : Math.max(0, Date.now() - queue.oldestReceivedAt) / 1000);
      const room = MAX_CONCURRENT_DRAINS - this.activeDrains;
      if (room <= 0) return;
      // heads being drained are due too: ask for enough to fill the room without them
      const limit = (room + this.activeDrains) * this.lanes.members();
      const heads = await this.pending.findDueHeads(Date.now(), limit);
      this.moreDue = heads.length >= limit;
      let started = 0;
      for (const head of heads) {
        if (started >= room || this.lanes.isStopping()) break;
        const lane = this.lanes.claim(head.registrationId);
        if (!lane) continue;
        started += 1;
        void this.drain(lane);
      }
    } catch (error) {
      this.logger.error(`callback retry round failed: ${(error as Error).message}`);
    } finally {
      this.ticking = false;
      if (this.again) {
        this.again = false;
        setImmediate(() => void this.tick());
      }
    }
  }

  private soon(): void {
    if (this.ticking) this.again = true;
    else void this.tick();
  }

  /**
   * Sends the registration's stored rows in order while they succeed, so a
   * receiver that is back gets its backlog without waiting for the next round.
   * The rows are read afresh once the lane is busy (a round's list of heads may
   * be older than a drain that just ended), a batch at a time; delivered rows
   * are deleted once per batch (a crash in between sends at most one batch
   * again, with the same webhook-ids). Uses the registration's current callback URL.
   */
  private async drain(lane: Lane): Promise<void> {
    this.lanes.setBusy(lane, true);
    this.activeDrains += 1;
    try {
      const registration = await this.registrations.findById(lane.registrationId);
      if (!registration) {
        // removed (its rows went with it, ON DELETE CASCADE) or unreadable: either way nothing can be sent
        this.lanes.forgetRegistration(lane.registrationId);
        await this.pending.deleteForRegistrations([lane.registrationId]);
        return;
      }
      // stops when the registration moved to another listener: its new owner drains the rest
      while (this.lanes.owns(lane.registrationId)) {
        const quiet = lane.unwritten === 0;
        const handed = lane.handedToWriter;
        const rows = await this.pending.findFirst(lane.registrationId, DRAIN_BATCH);
        if (rows.length === 0) {
          // the table holds nothing of this registration and nothing is on its way there
          if (quiet && handed === lane.handedToWriter && this.lanes.isCurrent(lane)) {
            lane.durable = false;
            this.outcomes.recovered(lane.registrationId);
          }
          return;
        }
        if (!(await this.sendInOrder(lane, rows, registration))) return;
      }
    } catch (error) {
      this.logger.error(
        `registration ${lane.registrationId}: callback retry failed: ${(error as Error).message}`,
      );
    } finally {
      this.activeDrains -= 1;
      this.lanes.setBusy(lane, false);
      if (this.lanes.isCurrent(lane)) this.lanes.drained(lane);
      if (this.moreDue && this.activeDrains <= MAX_CONCURRENT_DRAINS / 2) {
        this.moreDue = false;
        this.soon();
      }
    }
  }

  /** Sends `rows` one after the other; true when all are settled and the drain may go on. */
  private async sendInOrder(
    lane: Lane,
    rows: PendingDeliveryEntity[],
    registration: { callbackUrl: string; appId: string },
  ): Promise<boolean> {
    const settled: string[] = [];
    try {
      for (const row of rows) {
        if (!this.lanes.isCurrent(lane) || this.lanes.isStopping()) return false;
        const now = Date.now();
        if (row.nextAttemptAt > now) return false;
        if (now >= row.deadlineAt) {
          this.outcomes.droppedAtDeadline(lane.registrationId, registration.appId, row.lastError ?? 'not delivered');
          settled.push(row.id);
          continue;
        }
        const verdict = await this.delivery.attempt({
          callbackUrl: registration.callbackUrl,
          appId: registration.appId,
          webhookId: row.webhookId,
          body: row.body,
        });
        if (!this.lanes.isCurrent(lane)) return false;
        if (!(await this.afterRetry(lane, row, verdict, registration))) return false;
        settled.push(row.id);
      }
      return true;
    } finally {
      if (settled.length > 0) await this.pending.delete(settled);
    }
  }

  /** Books the result of a retry; true when the row is settled (to delete) and the drain may go on. */
  private async afterRetry(
    lane: Lane,
    row: PendingDeliveryEntity,
    verdict: AttemptVerdict,
    registration: { callbackUrl: string; appId: string },
  ): Promise<boolean> {
    const { callbackUrl, appId } = registration;
    const now = Date.now();
    if (verdict.kind !== 'retry' && verdict.kind !== 'refused') this.answeredAt(callbackUrl);
    switch (verdict.kind) {
      case 'delivered':
        this.outcomes.delivered(appId, row.receivedAt, now);
        return true;
      case 'gone':
        this.lanes.registrationGone(lane, appId);
        return false;
      case 'drop':
      case 'refused':
        this.outcomes.dropped(lane.registrationId, appId, callbackUrl, verdict);
        return true;
      case 'retry': {
        const attempts = row.attempts + 1;
        const at = nextAttemptAt(verdict, attempts, now, row.deadlineAt, this.backoff);
        if (at === undefined) {
          this.outcomes.droppedAtDeadline(lane.registrationId, appId, verdict.reason);
          return true;
        }
        this.outcomes.retryScheduled(lane.registrationId, appId, callbackUrl, verdict.reason);
        await this.pending.recordFailure(row.id, attempts, at, verdict.reason);
        this.failedAt(lane.registrationId, callbackUrl, verdict);
        return false;
      }
    }
  }
}
