import { relayTargetOf } from '@app/callback';
import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { SETTINGS, Settings } from '@app/config';
import { ReceivedPush, ReceivedPushRepository } from '@app/database';
import { MastodonPushClient, MastodonRestError } from '@app/mastodon';
import { MetricsService } from '@app/observability';
import { CatchUpService } from '../catch-up/catch-up.service';
import { RegistrationStateRecorder } from '../lifecycle/registration-state.recorder';
import { MembershipService } from '../membership/membership.service';
import { WebPushRegistryService } from './web-push-registry.service';

/** Pushes read per poll. */
const READ_BATCH = 500;
/** How often pushes passed by (committed out of id order, waiting for their subscription, a failed fetch) are read again. */
const STRAGGLER_SCAN_MS = 2_000;
/** How often pushes older than PUSH_RETENTION_HOURS are deleted. */
const PURGE_INTERVAL_MS = 3_600_000;
/** Notification fetches in flight at once. */
const MAX_FETCHES = 64;

export type PushRelayOutcome = 'relayed' | 'dropped' | 'not_found' | 'failed' | 'refused_token';

/**
 * Relays the pushes the api stored: for each push of a registration this
 * listener serves by Web Push, `GET /api/v1/notifications/<id>` with the
 * token, then the usual callback body through the catch-up seam (which moves
 * the cursor and drops an id a sweep relayed already) to the dispatcher, with
 * objectId = the notification id, so that the derived webhook-id is the one
 * the stream and the catch-up give the same notification. Pushes of one
 * registration are handed on in the order received. A push whose
 * registration is served here by its stream (it fell back) or that is gone
 * is marked done without a relay: the stream and its catch-up carry it.
 */
@Injectable()
export class ReceivedPushRelayService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ReceivedPushRelayService.name);
  private readonly outcomes: Counter<'outcome'>;
  private readonly pollIntervalMs: number;
  private readonly retentionMs: number;
  private readonly publicUrlSet: boolean;
  private readonly graceMs: number;
  private readonly startedAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private lastSeenId = '0';
  private lastStragglerScan = 0;
  /** Where the straggler scan goes on: it pages through every pending push, not only the oldest READ_BATCH. */
  private stragglerCursor = '0';
  private lastPurge = 0;
  private running: Promise<void> | undefined;
  /**
   * Pushes being handled now, or handled and not yet stamped in the table: a
   * straggler scan reading the table meanwhile must not take them again.
   */
  private readonly inFlight = new Set<string>();
  /** Per registration, the end of its chain of pushes being handed on (order within a registration). */
  private readonly chains = new Map<number, Promise<void>>();
  private fetches = 0;
  private readonly fetchWaiters: (() => void)[] = [];
  private finished: string[] = [];
  private stopping = false;

  constructor(
    private readonly pushes: ReceivedPushRepository,
    private readonly registry: WebPushRegistryService,
    private readonly client: MastodonPushClient,
    private readonly catchUp: CatchUpService,
    private readonly recorder: RegistrationStateRecorder,
    private readonly membership: MembershipService,
    metrics: MetricsService,
    @Inject(SETTINGS) settings: Settings,
  ) {
    this.pollIntervalMs = settings.webPush.pollIntervalMs;
    this.publicUrlSet = settings.webPush.publicUrl !== undefined;
    // a registration not taken up here within a few passes is not served by Web Push here
    this.graceMs = 3 * settings.listener.pollIntervalMs + 10_000;
    this.retentionMs = settings.webPush.retentionHours * 3_600_000;
    this.outcomes = metrics.counter(
      'msl_push_relayed_total',
      'Received Web Pushes handled by the listener: relayed, dropped (served by the stream, or gone), not_found (the notification is gone), failed (tried again), refused_token',
      ['outcome'],
    );
  }

  onModuleInit(): void {
    // without PUBLIC_URL nothing is subscribed, so no push can arrive
    if (!this.publicUrlSet) return;
    this.timer = setInterval(() => void this.poll(), this.pollIntervalMs);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.running;
    await Promise.allSettled([...this.chains.values()]);
    await this.writeFinished();
  }

  /** One poll; polls never overlap. */
  poll(): Promise<void> {
    if (!this.running && !this.stopping) {
      this.running = this.readAndRelay().finally(() => {
        this.running = undefined;
      });
    }
    return this.running ?? Promise.resolve();
  }

  private async readAndRelay(): Promise<void> {
    const now = Date.now();
    try {
      await this.writeFinished();
      const fresh = await this.pushes.findPendingAfter(this.lastSeenId, READ_BATCH);
      for (const push of fresh) this.take(push, now);
      if (now - this.lastStragglerScan >= STRAGGLER_SCAN_MS) {
        this.lastStragglerScan = now;
        // pushes other listeners own, or waiting for their subscription, must not hide the ones behind them
        const passed = await this.pushes.findPendingAfter(this.stragglerCursor, READ_BATCH);
        for (const push of passed) this.take(push, now);
        this.stragglerCursor = passed.length < READ_BATCH ? '0' : passed[passed.length - 1].id;
      }
      if (now - this.lastPurge >= PURGE_INTERVAL_MS) {
        this.lastPurge = now;
        const purged = await this.pushes.purgeReceivedBefore(now - this.retentionMs);
        if (purged > 0) this.logger.log(`${purged} received push(es) older than PUSH_RETENTION_HOURS deleted`);
      }
    } catch (error) {
      this.logger.error(`received pushes not read: ${(error as Error).message}`);
    }
  }

  /** Decides what one stored push needs; relays it in its registration's order. */
  private take(push: ReceivedPush, now: number): void {
    if (BigInt(push.id) > BigInt(this.lastSeenId)) this.lastSeenId = push.id;
    if (this.inFlight.has(push.id)) return;
    const id = push.registrationId;
    // another listener serves it (or will, once it takes it over)
    if (!this.membership.owns(id)) return;
    if (!this.registry.subscribed(id)) {
      // its subscription is being made or adopted here: wait for the next scan
      if (this.registry.pending(id)) return;
      // not taken up here yet (this listener just started, or just took it over): wait a little
      if (!this.registry.has(id) && (now - this.startedAt < this.graceMs || now - push.receivedAt < this.graceMs))
        return;
      // served by the stream it fell back to, or no longer a Web Push registration: the stream carries it
      this.done(push, 'dropped');
      return;
    }
    this.inFlight.add(push.id);
    const previous = this.chains.get(id) ?? Promise.resolve();
    const next = previous.then(() => this.relay(push));
    this.chains.set(id, next);
    void next.finally(() => {
      if (this.chains.get(id) === next) this.chains.delete(id);
    });
  }

  private async relay(push: ReceivedPush): Promise<void> {
    const served = this.registry.subscribed(push.registrationId);
    if (!served) {
      this.inFlight.delete(push.id);
      return;
    }
    let handled = false;
    await this.acquireFetch();
    try {
      const json = await this.client.notification(this.registry.target(served), push.notificationId);
      const { registration } = served;
      const at = Date.now();
      this.catchUp.relay({
        ...relayTargetOf(registration),
        event: 'notification',
        payload: json,
        objectId: push.notificationId,
        receivedAt: push.receivedAt,
      });
      this.recorder.relayed(registration.id, at);
      this.done(push, 'relayed');
      handled = true;
    } catch (error) {
      const failure = error instanceof MastodonRestError ? error : undefined;
      if (failure?.status === 404) {
        // deleted or dismissed since the push: nothing to relay
        this.done(push, 'not_found');
        handled = true;
      } else if (failure?.failure === 'unauthorized' || failure?.failure === 'forbidden') {
        this.done(push, 'refused_token');
        handled = true;
        this.registry.refused(
          push.registrationId,
          failure.failure === 'unauthorized' ? 'revoked' : 'scope',
          failure.message,
        );
      } else {
        // tried again by the next straggler scan
        this.outcomes.inc({ outcome: 'failed' });
        this.logger.warn(
          `notification of a push for registration ${push.registrationId} not fetched (${(error as Error).message}); trying again`,
        );
      }
    } finally {
      // a handled push stays in flight until writeFinished has stamped it
      if (!handled) this.inFlight.delete(push.id);
      this.releaseFetch();
    }
  }

  private done(push: ReceivedPush, outcome: PushRelayOutcome): void {
    this.outcomes.inc({ outcome });
    this.inFlight.add(push.id);
    this.finished.push(push.id);
  }

  /** Stamps what was handled since the last write (one statement per 500). */
  private async writeFinished(): Promise<void> {
    if (this.finished.length === 0) return;
    const ids = this.finished;
    this.finished = [];
    try {
      await this.pushes.markRelayed(ids, Date.now());
      for (const id of ids) this.inFlight.delete(id);
    } catch (error) {
      this.finished.push(...ids);
      throw error;
    }
  }

  private async acquireFetch(): Promise<void> {
    while (this.fetches >= MAX_FETCHES) await new Promise<void>((resolve) => this.fetchWaiters.push(resolve));
    this.fetches += 1;
  }

  private releaseFetch(): void {
    this.fetches -= 1;
    this.fetchWaiters.shift()?.();
  }
}
