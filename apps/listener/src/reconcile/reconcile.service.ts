import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CallbackDispatcher } from '@app/callback';
import { AppConfigService, ConfigMaps, SETTINGS, Settings } from '@app/config';
import { Registration, RegistrationRepository } from '@app/database';
import { RegistrationRemovalService } from '../lifecycle/registration-removal.service';
import { ListenerMetrics } from '../listener.metrics';
import { MembershipService } from '../membership/membership.service';
import { StreamRegistryService } from '../streams/stream-registry.service';
import { chooseTransport } from '../webpush/web-push-policy';
import { WebPushRegistryService } from '../webpush/web-push-registry.service';
import { RegistrationPolicy } from './registration-policy';

/**
 * Each change pass re-reads rows renewed this long before the previous pass
 * started: a registration committed late, or stamped by an api host whose clock
 * is a little behind, is still picked up. A larger skew is caught by the full
 * resync. Inside the window only ids and stamps are read again (after a burst
 * of registrations, thousands a second); whole rows only where a stamp differs
 * from the row last read, so a row rewritten within the same millisecond
 * waits for the full resync.
 */
export const CHANGE_OVERLAP_MS = 10_000;
export const RECONCILE_INTERVAL_NAME = 'listener-reconcile';
export const HEARTBEAT_INTERVAL_NAME = 'listener-heartbeat';
/**
 * How long a pass waits for the streams it took over to open, and for those
 * it closed to end, before it publishes its heartbeat (which tells the others
 * to let go of theirs, or that they may take a part of a limit).
 */
const SETTLE_WAIT_MS = 2_000;

/**
 * Keeps the open streams in line with the registrations table. Each pass
 * (every LISTENER_POLL_INTERVAL_MS, never two at once) removes expired rows,
 * reads only what changed since the previous pass, and finds deleted rows by
 * comparing a row count with what it knows; every LISTENER_FULL_RESYNC_MS it
 * reads the whole table instead (and deletes the records of registrations
 * removed long enough ago). A config reload re-checks every known row at once.
 * A registration that expired or that the config no longer allows ends
 * (RegistrationRemovalService); a removed row opens nothing until registered again.
 *
 * With several listeners on one database each pass first refreshes the
 * membership; a row's stream is held here only when this listener owns it.
 * When the members change every known row is checked again: only the rows
 * that change owner open or close. The pass ends by publishing the
 * heartbeat, after the streams that moved away were closed and their
 * undelivered callbacks stored for their new owner.
 */
@Injectable()
export class ReconcileService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ReconcileService.name);
  /** Every row seen in the table (allowed or not), by id. */
  private readonly known = new Map<number, Registration>();
  private policy: RegistrationPolicy;
  private policyMaps: ConfigMaps;
  /** Start of the last successful pass: the next one reads changes from here (minus the overlap). */
  private changesReadAt = 0;
  private lastFullAt: number | undefined;
  private running: Promise<void> | undefined;
  private lastSuccess: number | undefined;
  private readonly startedAt = Date.now();
  private readonly unsubscribes: (() => void)[] = [];
  /** Rows whose stream this pass closed because another listener owns them now. */
  private movedAway: number[] = [];
  /** Rows whose stream this pass opened that another listener held before. */
  private takenOver: number[] = [];
  private paused = false;
  private readonly listener: Settings['listener'];
  private readonly ttlMs: number;
  /** How long a handover waits for a callback in flight of a stream that moved away. */
  private readonly releaseBudgetMs: number;
  private readonly publicUrl: string | undefined;

  constructor(
    private readonly registrations: RegistrationRepository,
    private readonly streams: StreamRegistryService,
    private readonly config: AppConfigService,
    private readonly dispatcher: CallbackDispatcher,
    private readonly scheduler: SchedulerRegistry,
    private readonly metrics: ListenerMetrics,
    private readonly membership: MembershipService,
    private readonly removal: RegistrationRemovalService,
    @Inject(SETTINGS) settings: Settings,
    private readonly webPush: WebPushRegistryService,
  ) {
    this.publicUrl = settings.webPush.publicUrl;
    this.listener = settings.listener;
    this.ttlMs = settings.registrationTtlHours * 3_600_000;
    this.releaseBudgetMs = settings.callback.timeoutMs;
    this.policyMaps = config.maps;
    this.policy = new RegistrationPolicy(config);
  }

  onApplicationBootstrap(): void {
    const membership = this.membership;
    this.dispatcher.useOwnership({
      maySend: (id) => membership.maySend(id),
      get members() {
        return membership.members.length;
      },
    });
    this.unsubscribes.push(this.config.onReload(() => this.reevaluate()));
    this.unsubscribes.push(
      this.dispatcher.onRegistrationGone((id) => {
        // only the owner delivers, so this is the one listener that ends it
        this.streams.stop(id, 'the callback answered 410 Gone', { forget: true });
        this.webPush.stop(id, 'the callback answered 410 Gone', { unsubscribe: true });
        const row = this.known.get(id);
        if (!row || row.removed) return;
        this.known.set(id, { ...row, removed: true });
        void this.removal.gone(row);
      }),
    );
    this.scheduler.addInterval(
      RECONCILE_INTERVAL_NAME,
      setInterval(() => void this.runPass(), this.listener.pollIntervalMs),
    );
    this.scheduler.addInterval(
      HEARTBEAT_INTERVAL_NAME,
      setInterval(() => this.membership.beat(this.streams.openCount), this.listener.pollIntervalMs),
    );
    void this.runPass();
  }

  onModuleDestroy(): void {
    this.stopInterval();
    if (this.scheduler.doesExist('interval', HEARTBEAT_INTERVAL_NAME))
      this.scheduler.deleteInterval(HEARTBEAT_INTERVAL_NAME);
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
  }

  /** Before a handover: no pass starts any more (one would close every stream of a leaving node); waits for the running one. */
  async stopPasses(): Promise<void> {
    this.paused = true;
    this.stopInterval();
    await this.running;
  }

  /** When the last pass succeeded (ms since the epoch), if one has. */
  get lastSuccessAt(): number | undefined {
    return this.lastSuccess;
  }

  /** Age of the last success, counted from start-up before the first one. */
  successAgeMs(now = Date.now()): number {
    return now - (this.lastSuccess ?? this.startedAt);
  }

  /** Starts a pass unless one is running (passes never overlap); resolves when the running pass ends. */
  runPass(): Promise<void> {
    if (!this.running && !this.paused) {
      this.running = this.pass().finally(() => {
        this.running = undefined;
      });
    }
    return this.running ?? Promise.resolve();
  }

  /** Applies the current config to every known row: closes what is no longer allowed, opens what now is. */
  reevaluate(): void {
    this.refreshPolicy();
    let stopped = 0;
    for (const registration of this.known.values()) {
      if (!this.apply(registration)) stopped += 1;
    }
    this.streams.refreshLimits();
    this.logger.log(`config applied to ${this.known.size} registration(s); ${stopped} not allowed`);
  }

  private async pass(): Promise<void> {
    const started = Date.now();
    const timer = this.metrics.reconcileDuration.startTimer();
    try {
      this.refreshPolicy();
      const members = await this.membership.refresh(started);
      await this.removeExpired(started);
      const full =
        this.lastFullAt === undefined ||
        started - this.lastFullAt >= this.listener.fullResyncIntervalMs;
      if (full) {
        await this.removal.purge(started);
        await this.fullResync(started);
      } else await this.applyChanges();
      if (members.changed) {
        // a full resync has just read every row, cursors included
        if (!full) await this.readCursorsOfTakenUp();
        for (const registration of this.known.values()) this.apply(registration);
      }
      if (members.changed || members.agreedNow) this.streams.refreshLimits();
      await this.handOverMoved();
      await this.streams.opening(this.takenOver.splice(0), SETTLE_WAIT_MS);
      await this.streams.closed(SETTLE_WAIT_MS);
      await this.membership.publish(this.streams.openCount);
      this.changesReadAt = started;
      this.lastSuccess = Date.now();
      this.metrics.reconcileLastSuccess.set(this.lastSuccess / 1000);
      timer();
    } catch (error) {
      this.takenOver = [];
      this.logger.error(`reconcile pass failed: ${(error as Error).message}`);
      if (this.membership.isCutOff()) this.letGoOfEverything();
    }
  }

  /**
   * The registrations this listener now owns and does not hold come from
   * another listener, which moved their cursors on since this one read their
   * rows: they catch up from the cursors stored now, not from those read
   * then (or from a floor, where the row had none), which would skip the gap.
   */
  private async readCursorsOfTakenUp(): Promise<void> {
    const ids: number[] = [];
    for (const row of this.known.values()) {
      if (!row.removed && this.membership.owns(row.id) && !this.streams.has(row.id) && !this.webPush.has(row.id))
        ids.push(row.id);
    }
    if (ids.length === 0) return;
    for (const [id, cursor] of await this.registrations.findCursors(ids)) {
      const row = this.known.get(id);
      if (row && row.lastNotificationId !== cursor) this.known.set(id, { ...row, lastNotificationId: cursor });
    }
  }

  /**
   * Stores the undelivered callbacks of the streams that moved to another
   * listener, then lets the callbacks of the streams that came here flow
   * once their previous holder has let go of them.
   */
  private async handOverMoved(): Promise<void> {
    const moved = this.movedAway.splice(0);
    if (moved.length > 0) {
      await this.dispatcher.release(moved, Date.now() + this.releaseBudgetMs);
      this.logger.log(`${moved.length} stream(s) handed over to other listeners`);
    }
    const settled = this.membership.settledHandovers();
    if (settled.length === 0) return;
    await this.dispatcher.adoptStored(settled);
    this.membership.settle(settled);
    this.dispatcher.resume(settled);
  }

  /**
   * This listener has not written its heartbeat for twice
   * LISTENER_NODE_TIMEOUT_MS: the others have taken its registrations over,
   * so it closes its streams rather than hold them twice. The next
   * successful pass starts again from the members it then finds.
   */
  private letGoOfEverything(): void {
    this.logger.warn(
      `no heartbeat written for ${2 * this.listener.nodeTimeoutMs} ms: closing every stream, the other listeners hold them`,
    );
    for (const id of this.known.keys()) {
      this.streams.stop(id, 'cut off from the database', { forget: false });
      this.webPush.stop(id, 'cut off from the database', { unsubscribe: false });
    }
    this.membership.reset();
  }

  private stopInterval(): void {
    if (this.scheduler.doesExist('interval', RECONCILE_INTERVAL_NAME))
      this.scheduler.deleteInterval(RECONCILE_INTERVAL_NAME);
  }

  private async removeExpired(now: number): Promise<void> {
    const cutoff = now - this.ttlMs;
    // each listener ends only what it owns: one removal, one registration.removed per row
    const expired = (await this.registrations.findExpiredIds(cutoff)).filter((id) =>
      this.membership.owns(id),
    );
    if (expired.length === 0) return;
    for (const id of expired) {
      const why = `not renewed within ${this.ttlMs / 3_600_000} h`;
      this.streams.stop(id, why, { forget: true });
      this.webPush.stop(id, why, { unsubscribe: true });
    }
    const marked = await this.removal.expire(expired, cutoff, (id) => this.known.get(id));
    // removed rows stay in the table (and in `known`, which must match its row count) until purged
    for (const id of marked) {
      const row = this.known.get(id);
      if (row) this.known.set(id, { ...row, removed: true });
    }
  }

  private async fullResync(now: number): Promise<void> {
    const rows = await this.registrations.findAll();
    const seen = new Set<number>();
    for (const row of rows) {
      seen.add(row.id);
      this.remember(row);
    }
    for (const id of [...this.known.keys()]) {
      if (!seen.has(id)) this.forget(id);
    }
    this.lastFullAt = now;
    if (this.publicUrl)
      await this.webPush
        .deleteOrphans()
        .catch((error: Error) => this.logger.error(`push subscriptions not cleaned up: ${error.message}`));
    this.logger.debug(
      `full resync: ${rows.length} registration(s), ${this.streams.size} stream(s)`,
    );
  }

  /** Reads the stamps of the window, then whole rows only for what is new or changed. */
  private async applyChanges(): Promise<void> {
    const stamps = await this.registrations.findStampsSince(
      Math.max(0, this.changesReadAt - CHANGE_OVERLAP_MS),
    );
    const toRead = stamps
      .filter((stamp) => !this.isCurrent(stamp.id, stamp.lastUpdate))
      .map((stamp) => stamp.id);
    if (toRead.length > 0) {
      for (const row of await this.registrations.findByIds(toRead)) this.remember(row);
    }
    const count = await this.registrations.countAll();
    if (count === this.known.size) return;
    const ids = new Set(await this.registrations.findAllIds());
    for (const id of [...this.known.keys()]) {
      if (!ids.has(id)) this.forget(id);
    }
  }

  /** Whether the row `id` as last read has this stamp and its stream is held: nothing to read again. */
  private isCurrent(id: number, lastUpdate: number): boolean {
    return (
      this.known.get(id)?.lastUpdate === lastUpdate &&
      (this.streams.has(id) || this.webPush.has(id) || !this.membership.owns(id))
    );
  }

  /** Records a row read from the table and acts on it unless nothing that matters changed. */
  private remember(row: Registration): void {
    const previous = this.known.get(row.id);
    const unchanged =
      previous !== undefined &&
      this.isCurrent(row.id, row.lastUpdate) &&
      previous.accessToken === row.accessToken &&
      previous.endpoint === row.endpoint &&
      previous.transport === row.transport &&
      previous.callbackUrl === row.callbackUrl &&
      previous.appSecretHash === row.appSecretHash;
    this.known.set(row.id, row);
    if (!unchanged) this.apply(row);
  }

  /** Opens or updates the stream of an allowed row, closes that of a refused one; returns whether it is allowed. */
  private apply(row: Registration): boolean {
    if (row.removed) {
      // what the removal left to deliver (its registration.removed event) stays in the dispatcher
      this.streams.stop(row.id, 'registration removed', { forget: false });
      this.webPush.stop(row.id, 'registration removed', { unsubscribe: true });
      return true;
    }
    const verdict = this.policy.evaluate(row);
    if (!verdict.allowed) {
      this.membership.dropped(row.id);
      // only the owner ends it, so that one removal (and one registration.removed event) happens
      const owned = this.membership.owns(row.id);
      this.streams.stop(row.id, verdict.reason, { forget: owned, quiet: true });
      this.webPush.stop(row.id, verdict.reason, { unsubscribe: owned });
      if (owned) {
        this.known.set(row.id, { ...row, removed: true });
        void this.removal.remove(row, 'config', verdict.reason);
      }
      return false;
    }
    if (!this.membership.owns(row.id)) {
      this.membership.dropped(row.id);
      const stream = this.streams.stop(row.id, 'held by another listener now', { forget: false });
      const push = this.webPush.stop(row.id, 'held by another listener now', { unsubscribe: false });
      if (stream || push) this.movedAway.push(row.id);
      return true;
    }
    const held = this.streams.has(row.id) || this.webPush.has(row.id);
    if (!held && this.membership.takingOver(row.id)) this.takenOver.push(row.id);
    const choice = chooseTransport(row, verdict.instance, this.config.findApp(row.appId), this.publicUrl);
    if (choice.transport === 'webpush') {
      this.webPush.ensure(row, verdict.instance);
      return true;
    }
    // a registration that left Web Push: its subscription is deleted, its stream opens
    const wasPush = this.webPush.stop(row.id, 'transport is stream now', { unsubscribe: true });
    const opening = !this.streams.has(row.id);
    // taken up here by its stream: a subscription it left while nobody held it is deleted too
    if (!wasPush && opening) this.webPush.dropLeftOver(row, verdict.instance);
    this.streams.ensure(row, verdict.instance);
    if ('instead' in choice && opening) this.webPush.explainStream(row.id, choice.instead);
    return true;
  }

  private forget(id: number): void {
    this.known.delete(id);
    this.membership.dropped(id);
    this.streams.stop(id, 'registration removed', { forget: true });
    this.webPush.stop(id, 'registration removed', { unsubscribe: true });
  }

  private refreshPolicy(): void {
    if (this.config.maps === this.policyMaps) return;
    this.policyMaps = this.config.maps;
    this.policy = new RegistrationPolicy(this.config);
  }
}
