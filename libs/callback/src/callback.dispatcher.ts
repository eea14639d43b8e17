import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleInit,
} from '@nestjs/common';
import { SETTINGS, Settings } from '@app/config';
import {
  NewPendingDelivery,
  PendingDeliveryRepository,
  RegistrationRepository,
} from '@app/database';
import { MetricsService } from '@app/observability';
import { CallbackDeliveryService } from './callback-delivery.service';
import { CallbackOutcomes } from './callback-outcomes';
import type { Lane, QueuedEvent } from './delivery-lane';
import { PendingDeliveryWriter, PendingWrite } from './pending-delivery.writer';
import type { RelayEvent } from './relay-event';
import { AttemptVerdict, BackoffOptions, nextAttemptAt } from './retry-policy';
import { RetryWorker } from './retry-worker';
import { derivedWebhookId, newWebhookId } from './webhook-signer';

export type { CallbackOutcome } from './callback-outcomes';

/** Told that the event of `objectId` is safe: delivered, stored in the retry table, or dropped for good. */
export type SettledListener = (registrationId: number, objectId: string) => void;

/** Above this many events waiting in memory behind a slow receiver, the lane moves them to the retry table. */
const MAX_MEMORY_QUEUE = 1_000;

/**
 * Which registrations this process delivers callbacks for. With several
 * listeners on one database each registration has one owner, and only the
 * owner sends its events and drains its rows of the retry table, so that
 * per-registration order holds. The default (one process) owns everything.
 */
export interface DeliveryOwnership {
  maySend(registrationId: number): boolean;
  /** Processes sharing the retry table: a retry round reads this many times more heads, then keeps its own. */
  readonly members: number;
}

const OWN_EVERYTHING: DeliveryOwnership = { maySend: () => true, members: 1 };
/** How often a handover checks whether the events it stored are in the table. */
const HANDOVER_CHECK_MS = 20;

/**
 * Delivers relayed events to callbacks without losing any.
 *
 * Fast path: an event is attempted from memory at once, without touching the
 * database. Only an event whose first attempt fails is written to the retry
 * table (stream_listener_deliveries), followed by every later event of that
 * registration, so nothing overtakes it. The retry worker (RetryWorker) sends
 * due table heads, one registration at a time each, in id order; this class
 * keeps the lanes and the first attempts.
 *
 * Durability: events already in the table survive any crash. At a graceful
 * shutdown every event still in memory (waiting, or in an attempt that did not
 * finish in the grace period) is written to the table. A SIGKILL loses only the
 * events still on the fast path: those whose first attempt was in progress and
 * those queued in memory behind one of them for the same registration.
 */
@Injectable()
export class CallbackDispatcher
  implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown
{
  private readonly logger = new Logger(CallbackDispatcher.name);
  private readonly lanes = new Map<number, Lane>();
  /** Registrations removed after a 410: later events of theirs are not sent (ids are never reused). */
  private readonly gone = new Set<number>();
  private readonly goneListeners = new Set<(registrationId: number) => void>();
  private settledListener: SettledListener | undefined;
  private readonly writer: PendingDeliveryWriter<Lane>;
  private readonly retries: RetryWorker;
  private readonly backoff: BackoffOptions;
  private readonly deadlineMs: number;
  private readonly outcomes: CallbackOutcomes;

  /** Which registrations have rows from before this process is known; until then nothing is sent. */
  private pendingLoaded = false;
  private stopping = false;
  private shutdown: Promise<void> | undefined;
  /** After shutdown persisted everything: late attempt results are ignored, late events refused. */
  private closed = false;
  private busyCount = 0;
  private readonly busyWaiters: (() => void)[] = [];
  private ownership: DeliveryOwnership = OWN_EVERYTHING;

  constructor(
    private readonly delivery: CallbackDeliveryService,
    private readonly pending: PendingDeliveryRepository,
    private readonly registrations: RegistrationRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
    metrics: MetricsService,
  ) {
    const callback = settings.callback;
    this.backoff = { baseMs: callback.retryBaseDelayMs, maxMs: callback.retryMaxDelayMs };
    this.deadlineMs = callback.retryDeadlineHours * 3_600_000;
    this.writer = new PendingDeliveryWriter<Lane>(
      {
        append: (rows) => this.pending.append(rows),
        findExistingIds: (ids) => this.registrations.findExistingIds(ids),
      },
      (write) => {
        write.owner.unwritten -= 1;
        this.settled(write.row.registrationId, write.objectId);
      },
      (write) => this.lanes.get(write.row.registrationId) === write.owner,
      (write) => this.settled(write.row.registrationId, write.objectId),
    );
    this.outcomes = new CallbackOutcomes(metrics, callback.retryDeadlineHours);
    this.retries = new RetryWorker(
      {
        ready: async () => {
          if (!this.pendingLoaded) await this.loadPending();
          return this.pendingLoaded;
        },
        isStopping: () => this.stopping,
        claim: (registrationId) => this.claimForDrain(registrationId),
        isCurrent: (lane) => this.isCurrent(lane),
        owns: (registrationId) => this.ownership.maySend(registrationId),
        members: () => Math.max(1, this.ownership.members),
        setBusy: (lane, busy) => this.setBusy(lane, busy),
        drained: (lane) => this.pump(lane),
        forgetRegistration: (registrationId) => this.forgetRegistration(registrationId),
        registrationGone: (lane, appId) => this.registrationGone(lane, appId),
      },
      delivery,
      pending,
      registrations,
      this.outcomes,
      this.backoff,
      metrics,
    );
  }

  async onModuleInit(): Promise<void> {
    await this.loadPending();
  }

  onApplicationBootstrap(): void {
    this.retries.start(this.settings.callback.retryPollIntervalMs);
  }

  /** Queues `event` for its callback. Returns at once and never throws; order per registration is kept. */
  dispatch(event: RelayEvent): void {
    try {
      this.accept(event);
    } catch (error) {
      this.logger.error(
        `registration ${event?.registrationId}: event not relayed: ${(error as Error).message}`,
      );
    }
  }

  /** `listener` is told after a 410 answer removed a registration; returns an unsubscribe function. */
  onRegistrationGone(listener: (registrationId: number) => void): () => void {
    this.goneListeners.add(listener);
    return () => this.goneListeners.delete(listener);
  }

  /**
   * `listener` is told, per registration in the order events were dispatched,
   * the objectId of each event that is safe: delivered, committed to the retry
   * table, or dropped for good. Events without an objectId are not reported.
   * One listener (the catch-up cursor); it must be cheap and must not throw.
   */
  onSettled(listener: SettledListener): void {
    this.settledListener = listener;
  }

  /** From now on only the registrations `ownership` grants are delivered from this process. */
  useOwnership(ownership: DeliveryOwnership): void {
    this.ownership = ownership;
  }

  /**
   * Registrations that came to this process from another listener: those
   * with rows in the retry table (the previous owner's undelivered events)
   * deliver from the table first, behind those rows, so order holds across
   * the move. Call before `resume`, once the previous owner has let go.
   */
  async adoptStored(registrationIds: number[]): Promise<void> {
    if (registrationIds.length === 0) return;
    const stored = await this.pending.registrationIdsWithPendingAmong(registrationIds);
    for (const id of stored) {
      const lane = this.laneFor(id);
      if (lane.durable) continue;
      this.handToWriter(lane, lane.queue.splice(0), undefined);
      lane.durable = true;
    }
  }

  /** Starts delivering what waits in memory for these registrations (their ownership allows it now). */
  resume(registrationIds: number[]): void {
    for (const id of registrationIds) {
      const lane = this.lanes.get(id);
      if (lane) this.pump(lane);
    }
  }

  /**
   * Registrations this process no longer owns: an attempt in flight may
   * finish (a failed one goes to the table ahead of the rest), then every
   * event still waiting in memory is stored for the new owner. Resolves once
   * it is all in the table, or at `deadline`.
   */
  async release(registrationIds: number[], deadline: number): Promise<void> {
    const lanes = registrationIds
      .map((id) => this.lanes.get(id))
      .filter((lane): lane is Lane => lane !== undefined);
    const waitFor = async (busy: (lane: Lane) => boolean) => {
      while (lanes.some(busy) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, HANDOVER_CHECK_MS));
      }
    };
    await waitFor((lane) => lane.busy);
    for (const lane of lanes) {
      if (!lane.busy && lane.queue.length > 0 && this.isCurrent(lane)) {
        this.handToWriter(lane, lane.queue.splice(0), undefined);
      }
    }
    await waitFor((lane) => lane.unwritten > 0);
  }

  /** The registration was removed elsewhere: its waiting events are dropped (its table rows go with its row). */
  forgetRegistration(registrationId: number): void {
    const lane = this.lanes.get(registrationId);
    this.retries.forget(registrationId);
    this.outcomes.forget(registrationId);
    if (!lane) return;
    this.lanes.delete(registrationId);
    this.writer.discard(registrationId);
  }

  /** Resolves once every event is delivered or stored; later calls wait for the same work. */
  beforeApplicationShutdown(): Promise<void> {
    this.shutdown ??= this.persistAtShutdown();
    return this.shutdown;
  }

  private async persistAtShutdown(): Promise<void> {
    this.stopping = true;
    this.retries.stop();
    const started = Date.now();
    const budget = Math.floor(this.settings.shutdownTimeoutMs / 2);
    await this.whenIdle(started + budget);
    this.delivery.abortAll();
    this.closed = true;
    // what is still in memory (never attempted, or attempted without an answer) goes to the table
    for (const lane of this.lanes.values()) {
      if (lane.queue.length > 0) this.handToWriter(lane, lane.queue.splice(0), undefined);
    }
    const unwritten = await this.writer.flush(started + this.settings.shutdownTimeoutMs - 500);
    this.writer.stop();
    if (unwritten > 0) {
      this.logger.error(
        `shutdown: ${unwritten} undelivered callback(s) could not be stored and are lost`,
      );
    } else {
      this.logger.log('shutdown: every undelivered callback is stored for the next start');
    }
  }

  private accept(event: RelayEvent): void {
    if (this.closed) {
      this.logger.error(
        `registration ${event.registrationId}: event arrived after shutdown, not relayed`,
      );
      return;
    }
    if (!Number.isSafeInteger(event.registrationId))
      throw new Error('registrationId is not an integer');
    if (this.gone.has(event.registrationId)) return;
    // a bad clock value would become a NaN deadline, which the table cannot store
    const receivedAt = Number.isFinite(event.receivedAt) ? event.receivedAt : Date.now();
    const objectId = typeof event.objectId === 'string' ? event.objectId : undefined;
    const queued: QueuedEvent = {
      registrationId: event.registrationId,
      objectId,
      appId: event.appId,
      callbackUrl: event.callbackUrl,
      webhookId:
        objectId === undefined ? newWebhookId() : derivedWebhookId(event, event.event, objectId),
      event: event.event,
      body: JSON.stringify({
        instanceUrl: event.instanceUrl,
        tag: event.tag,
        appId: event.appId,
        event: event.event,
        payload: event.payload,
      }),
      receivedAt,
      deadlineAt: receivedAt + this.deadlineMs,
    };
    const lane = this.laneFor(event.registrationId);
    if (lane.durable) {
      this.handToWriter(lane, [queued], undefined);
      return;
    }
    lane.queue.push(queued);
    this.pump(lane);
  }

  private laneFor(registrationId: number): Lane {
    let lane = this.lanes.get(registrationId);
    if (!lane) {
      lane = {
        registrationId,
        queue: [],
        busy: false,
        durable: false,
        handedToWriter: 0,
        unwritten: 0,
      };
      this.lanes.set(registrationId, lane);
    }
    return lane;
  }

  /** Starts the next first attempt of a memory-mode lane. */
  private pump(lane: Lane): void {
    if (lane.busy || lane.durable || !this.pendingLoaded || this.stopping) return;
    const next = lane.queue[0];
    if (!next) {
      // idle lanes are cheap to recreate; keeping them would grow with every registration ever seen
      if (this.lanes.get(lane.registrationId) === lane) this.lanes.delete(lane.registrationId);
      return;
    }
    // held, not dropped: the events go to the table for the new owner, or out once the handover is over
    if (!this.ownership.maySend(lane.registrationId)) return;
    this.setBusy(lane, true);
    void this.delivery
      .attempt(next)
      .catch((error: unknown): AttemptVerdict => ({
        kind: 'retry',
        reason: `internal error: ${(error as Error).message}`,
      }))
      .then((verdict) => this.afterFirstAttempt(lane, next, verdict))
      .catch((error: unknown) =>
        this.logger.error(`callback bookkeeping failed: ${(error as Error).message}`),
      );
  }

  /**
   * Books a first attempt and starts the next one. The lane stops being busy
   * here and nowhere else, and the next attempt starts only at the end, so
   * exactly one request per registration is ever in flight.
   */
  private async afterFirstAttempt(
    lane: Lane,
    event: QueuedEvent,
    verdict: AttemptVerdict,
  ): Promise<void> {
    this.setBusy(lane, false);
    if (this.closed || this.lanes.get(lane.registrationId) !== lane) return;
    const now = Date.now();
    switch (verdict.kind) {
      case 'delivered':
        lane.queue.shift();
        this.outcomes.delivered(event.appId, event.receivedAt, now);
        this.retries.answeredAt(event.callbackUrl);
        this.settled(event.registrationId, event.objectId);
        break;
      case 'gone':
        this.retries.answeredAt(event.callbackUrl);
        this.registrationGone(lane, event.appId);
        return;
      case 'drop':
      case 'refused':
        lane.queue.shift();
        if (verdict.kind === 'drop') this.retries.answeredAt(event.callbackUrl);
        this.outcomes.dropped(event.registrationId, event.appId, event.callbackUrl, verdict);
        this.settled(event.registrationId, event.objectId);
        break;
      case 'retry': {
        lane.queue.shift();
        const at = nextAttemptAt(verdict, 1, now, event.deadlineAt, this.backoff);
        const rest = lane.queue.splice(0);
        if (at === undefined) {
          this.outcomes.droppedAtDeadline(event.registrationId, event.appId, verdict.reason);
          this.settled(event.registrationId, event.objectId);
          lane.queue = rest;
          break;
        }
        this.outcomes.retryScheduled(event.registrationId, event.appId, event.callbackUrl, verdict.reason);
        this.retries.failedAt(event.registrationId, event.callbackUrl, verdict);
        this.handToWriter(lane, [event, ...rest], {
          attempts: 1,
          nextAttemptAt: at,
          lastError: verdict.reason,
        });
        break;
      }
    }
    if (!lane.durable && lane.queue.length > MAX_MEMORY_QUEUE) {
      this.logger.warn(
        `registration ${lane.registrationId}: callback is slow, ${lane.queue.length} events moved to the retry table`,
      );
      this.handToWriter(lane, lane.queue.splice(0), undefined);
    }
    this.pump(lane);
  }

  /** Makes `lane` durable and appends `events` to the table; `head` describes the failed attempt of the first one. */
  private handToWriter(
    lane: Lane,
    events: QueuedEvent[],
    head: { attempts: number; nextAttemptAt: number; lastError: string } | undefined,
  ): void {
    if (events.length === 0) return;
    lane.durable = true;
    const now = Date.now();
    const writes: PendingWrite<Lane>[] = events.map((event, index) => {
      const row: NewPendingDelivery = {
        registrationId: event.registrationId,
        webhookId: event.webhookId,
        event: event.event,
        body: event.body,
        receivedAt: event.receivedAt,
        deadlineAt: event.deadlineAt,
        attempts: index === 0 && head ? head.attempts : 0,
        nextAttemptAt: index === 0 && head ? head.nextAttemptAt : now,
        lastError: index === 0 && head ? head.lastError : null,
      };
      return { owner: lane, row, objectId: event.objectId };
    });
    lane.handedToWriter += writes.length;
    lane.unwritten += writes.length;
    this.writer.append(writes);
  }

  /** The lane of `registrationId` for a drain of its stored rows, or undefined when it must not be drained now. */
  private claimForDrain(registrationId: number): Lane | undefined {
    if (this.gone.has(registrationId)) return undefined;
    // another listener owns it and drains it: two drains would break its order
    if (!this.ownership.maySend(registrationId)) return undefined;
    const lane = this.laneFor(registrationId);
    if (lane.busy) return undefined;
    if (!lane.durable) this.handToWriter(lane, lane.queue.splice(0), undefined);
    lane.durable = true;
    return lane;
  }

  private registrationGone(lane: Lane, appId: string): void {
    const id = lane.registrationId;
    this.gone.add(id);
    const discarded = lane.queue.length;
    this.forgetRegistration(id);
    this.outcomes.count('gone', appId);
    this.logger.log(
      `registration ${id}: callback answered 410 Gone, nothing more is sent for it` +
        (discarded > 1 ? ` (${discarded - 1} waiting event(s) dropped)` : ''),
    );
    // the listener ends the registration (recorded as removed, reason gone)
    for (const listener of this.goneListeners) {
      try {
        listener(id);
      } catch (error) {
        this.logger.error(`registration-gone listener failed: ${(error as Error).message}`);
      }
    }
  }

  private async loadPending(): Promise<void> {
    try {
      const ids = await this.pending.registrationIdsWithPending();
      for (const id of ids) {
        const lane = this.laneFor(id);
        if (lane.durable) continue;
        // events that arrived while this list was read are newer than the stored rows
        this.handToWriter(lane, lane.queue.splice(0), undefined);
        lane.durable = true;
      }
      this.pendingLoaded = true;
      if (ids.length > 0) {
        this.logger.log(`resuming stored callbacks of ${ids.length} registration(s)`);
        void this.retries.trackStored(ids);
      }
    } catch (error) {
      this.logger.error(`cannot read the callback retry table yet: ${(error as Error).message}`);
      return;
    }
    for (const lane of [...this.lanes.values()]) this.pump(lane);
  }

  private isCurrent(lane: Lane): boolean {
    return !this.closed && this.lanes.get(lane.registrationId) === lane;
  }

  private setBusy(lane: Lane, busy: boolean): void {
    if (lane.busy === busy) return;
    lane.busy = busy;
    this.busyCount += busy ? 1 : -1;
    if (this.busyCount === 0) for (const resolve of this.busyWaiters.splice(0)) resolve();
  }

  private async whenIdle(deadline: number): Promise<void> {
    if (this.busyCount === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.busyWaiters.push(resolve)),
      new Promise<void>(
        (resolve) => (timer = setTimeout(resolve, Math.max(deadline - Date.now(), 0))),
      ),
    ]);
    clearTimeout(timer);
  }

  private settled(registrationId: number, objectId: string | undefined): void {
    if (objectId === undefined || !this.settledListener) return;
    try {
      this.settledListener(registrationId, objectId);
    } catch (error) {
      this.logger.error(`settled listener failed: ${(error as Error).message}`);
    }
  }
}
