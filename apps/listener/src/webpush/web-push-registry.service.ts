import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { InstanceEntry, SETTINGS, Settings } from '@app/config';
import {
  PushSubscription,
  PushSubscriptionRepository,
  Registration,
  registrationLabel,
} from '@app/database';
import {
  generatePushKeys,
  InstanceInfoService,
  MastodonPushClient,
  MastodonRestError,
  newPushId,
  PushCallTarget,
  pushEndpoint,
} from '@app/mastodon';
import { MetricsService } from '@app/observability';
import { hashSecret } from '@app/security';
import { CatchUpService, CatchUpSource, TokenRefusal } from '../catch-up/catch-up.service';
import { RegistrationRemovalService } from '../lifecycle/registration-removal.service';
import { RegistrationStateRecorder } from '../lifecycle/registration-state.recorder';
import { StreamRegistryService } from '../streams/stream-registry.service';
import { reconnectDelay } from '../streams/backoff';
import { alertsFor, asksStandard } from './web-push-policy';

/** The sweep visits its registrations in this many slices per interval, not all at once. */
const SWEEP_SLICES = 60;

type EntryState = 'subscribing' | 'subscribed' | 'retrying' | 'fallback';

/** One registration served by Web Push here (or, after a refusal, by the stream it fell back to). */
interface WebPushEntry {
  registration: Registration;
  instance: InstanceEntry;
  state: EntryState;
  /** Bumped whenever the entry's work is superseded (stopped, token changed): late answers are ignored. */
  generation: number;
  attempt: number;
  retryTimer: NodeJS.Timeout | undefined;
  subscription: PushSubscription | undefined;
  /** Waiting for its turn to start (see schedule). */
  queued: boolean;
}

export type SubscribeOutcome = 'subscribed' | 'adopted' | 'refused' | 'failed' | 'unsubscribed';

/** Refusals that no retry will change: the registration keeps the stream instead. */
function isRefusal(error: unknown): error is MastodonRestError {
  if (!(error instanceof MastodonRestError)) return false;
  return (
    error.failure === 'unauthorized' ||
    error.failure === 'forbidden' ||
    (error.failure === 'status' && error.status !== undefined && error.status >= 400 && error.status < 500) ||
    error.failure === 'invalid'
  );
}

/**
 * Holds the Web Push subscriptions of the registrations this listener owns:
 * makes one (a new key pair, auth secret and push id, then `POST
 * /api/v1/push/subscription` with the user's token), adopts one made before
 * (a restart, a takeover: nothing is asked of the instance), replaces it when
 * the token changes, deletes it when the registration ends. A refusal (no
 * `push` scope, an instance without Web Push) makes the registration fall
 * back to its stream, recorded for /status. Network failures are retried
 * with backoff. Every subscription is swept through the catch-up from its
 * cursor every PUSH_SWEEP_INTERVAL_MS, for pushes the instance gave up on.
 */
@Injectable()
export class WebPushRegistryService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(WebPushRegistryService.name);
  private readonly entries = new Map<number, WebPushEntry>();
  private readonly settings: Settings['webPush'];
  private readonly retry: { baseMs: number; maxMs: number };
  private readonly outcomes: Counter<'outcome'>;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepTick = 0;
  private stopping = false;
  /** Subscriptions being made or adopted now, and those waiting their turn (a burst of registrations must not flood the instance). */
  private active = 0;
  private readonly waiting: WebPushEntry[] = [];
  private readonly maxActive: number;
  /** Stream registrations to look up for a subscription left from when they asked for Web Push (see dropLeftOver). */
  private readonly leftOverChecks = new Map<number, { registration: Registration; instance: InstanceEntry }>();
  private leftOverTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly subscriptions: PushSubscriptionRepository,
    private readonly client: MastodonPushClient,
    private readonly instances: InstanceInfoService,
    private readonly streams: StreamRegistryService,
    private readonly catchUp: CatchUpService,
    private readonly recorder: RegistrationStateRecorder,
    private readonly removal: RegistrationRemovalService,
    metrics: MetricsService,
    @Inject(SETTINGS) settings: Settings,
  ) {
    this.settings = settings.webPush;
    this.maxActive = settings.listener.maxOpeningPerInstance;
    this.retry = { baseMs: settings.listener.reconnectBaseMs, maxMs: settings.listener.reconnectMaxMs };
    this.outcomes = metrics.counter(
      'msl_push_subscriptions_total',
      'Web Push subscriptions: made, adopted (made before), refused (fallen back to the stream), failed attempts, deleted',
      ['outcome'],
    );
  }

  onModuleInit(): void {
    this.catchUp.onTokenRefused((id, reason, detail) => this.tokenRefused(id, reason, detail));
    this.sweepTimer = setInterval(() => this.sweepSlice(), Math.max(1, Math.floor(this.settings.sweepIntervalMs / SWEEP_SLICES)));
    this.sweepTimer.unref();
  }

  onModuleDestroy(): void {
    this.stopping = true;
    clearInterval(this.sweepTimer);
    clearTimeout(this.leftOverTimer);
    for (const entry of this.entries.values()) {
      entry.generation += 1;
      clearTimeout(entry.retryTimer);
    }
    // subscriptions stay: the instance keeps pushing, the api keeps storing, the next owner relays
    this.entries.clear();
  }

  /** Registrations served here by Web Push (or by the stream they fell back to). */
  get size(): number {
    return this.entries.size;
  }

  /** Subscriptions in place (the instance pushes to us). */
  get subscribedCount(): number {
    let count = 0;
    for (const entry of this.entries.values()) if (entry.state === 'subscribed') count += 1;
    return count;
  }

  has(registrationId: number): boolean {
    return this.entries.has(registrationId);
  }

  /** The registration, when its subscription is in place here: its pushes may be relayed. */
  subscribed(registrationId: number): { registration: Registration; instance: InstanceEntry } | undefined {
    const entry = this.entries.get(registrationId);
    return entry?.state === 'subscribed' ? entry : undefined;
  }

  /** Whether pushes of this registration should wait (its subscription is being made or adopted here). */
  pending(registrationId: number): boolean {
    const state = this.entries.get(registrationId)?.state;
    return state === 'subscribing' || state === 'retrying';
  }

  /** Subscribes `registration`, or brings its subscription up to date (a new token replaces it). */
  ensure(registration: Registration, instance: InstanceEntry): void {
    if (this.stopping) return;
    const entry = this.entries.get(registration.id);
    if (!entry) {
      const created: WebPushEntry = {
        registration,
        instance,
        state: 'subscribing',
        generation: 0,
        attempt: 0,
        retryTimer: undefined,
        subscription: undefined,
        queued: false,
      };
      this.entries.set(registration.id, created);
      this.recorder.record(registration.id, 'connecting');
      this.schedule(created);
      return;
    }
    const tokenChanged = entry.registration.accessToken !== registration.accessToken;
    const instanceChanged = entry.registration.instanceUrl !== registration.instanceUrl;
    entry.registration = registration;
    entry.instance = instance;
    if (tokenChanged || instanceChanged) {
      this.logger.log(`token changed for ${registrationLabel(registration)}: replacing its push subscription`);
      this.restart(entry);
      return;
    }
    // renewal keeps the subscription; a fallen-back registration keeps its stream up to date
    if (entry.state === 'fallback') this.streams.ensure(registration, instance);
  }

  /**
   * Stops serving `registrationId` here. `unsubscribe`: the registration
   * ended, so its subscription is deleted at the instance (with the token
   * still known) and here; otherwise (it moved to another listener) it stays
   * for the next owner. Returns whether there was an entry.
   */
  stop(registrationId: number, why: string, options: { unsubscribe: boolean }): boolean {
    const entry = this.entries.get(registrationId);
    // a subscription stored for a registration not held here is left to the orphan clean-up (and the api's 410)
    if (!entry) return false;
    this.entries.delete(registrationId);
    entry.generation += 1;
    clearTimeout(entry.retryTimer);
    entry.retryTimer = undefined;
    if (entry.state === 'fallback') this.streams.stop(registrationId, why, { forget: options.unsubscribe, quiet: true });
    if (options.unsubscribe) void this.unsubscribe(entry, why);
    else this.logger.debug(`push subscription of ${registrationLabel(entry.registration)} left here: ${why}`);
    return true;
  }

  /**
   * `registration` is now served here by its stream and was not held here by
   * Web Push: it may have left a subscription behind (it switched to the
   * stream while no listener held it). Looked up in batches; one found is
   * deleted at the instance, with the registration's token, and here, so that
   * the instance stops pushing for it.
   */
  dropLeftOver(registration: Registration, instance: InstanceEntry): void {
    if (this.stopping || this.entries.has(registration.id)) return;
    this.leftOverChecks.set(registration.id, { registration, instance });
    this.leftOverTimer ??= setTimeout(() => void this.deleteLeftOvers(), 0);
  }

  private async deleteLeftOvers(): Promise<void> {
    this.leftOverTimer = undefined;
    const checks = [...this.leftOverChecks.values()];
    this.leftOverChecks.clear();
    let stored: Map<number, PushSubscription>;
    try {
      stored = await this.subscriptions.findByRegistrations(checks.map((check) => check.registration.id));
    } catch (error) {
      // looked up again when the listener next takes these registrations up
      this.logger.error(`left-over push subscriptions not looked up: ${(error as Error).message}`);
      return;
    }
    for (const check of checks) {
      const subscription = stored.get(check.registration.id);
      // a refused one holds nothing at the instance; one taken up by Web Push again meanwhile is in use
      if (!subscription || subscription.state === 'refused' || this.entries.has(check.registration.id)) continue;
      await this.deleteSubscription(check, 'transport is stream now');
    }
  }

  /** A registration that asked for Web Push keeps its stream for `reason`: said in its lastError, for /status. */
  explainStream(registrationId: number, reason: string): void {
    this.recorder.record(registrationId, 'connecting', { lastError: reason });
  }

  /** Starts `entry` when fewer than STREAM_MAX_OPENING_PER_INSTANCE are under way, else queues it. */
  private schedule(entry: WebPushEntry): void {
    if (entry.queued) return;
    if (this.active >= this.maxActive) {
      entry.queued = true;
      this.waiting.push(entry);
      return;
    }
    this.active += 1;
    void this.start(entry).finally(() => {
      this.active -= 1;
      while (this.waiting.length > 0 && this.active < this.maxActive) {
        const next = this.waiting.shift()!;
        next.queued = false;
        // stopped or restarted while it waited: its current turn is queued or running already
        if (this.entries.get(next.registration.id) === next && !this.stopping) {
          this.schedule(next);
          break;
        }
      }
    });
  }

  /** Adopts the stored subscription when it was made with this token, else makes a new one. */
  private async start(entry: WebPushEntry): Promise<void> {
    const generation = entry.generation;
    const registration = entry.registration;
    let stored: PushSubscription | undefined;
    try {
      stored = await this.subscriptions.findByRegistration(registration.id);
    } catch (error) {
      if (entry.generation === generation) this.failed(entry, `push subscription not read: ${(error as Error).message}`);
      return;
    }
    if (entry.generation !== generation) return;
    const sameToken = stored?.tokenHash === hashSecret(registration.accessToken);
    if (stored && sameToken && stored.state === 'subscribed' && stored.serverKey) {
      entry.subscription = stored;
      this.outcomes.inc({ outcome: 'adopted' });
      this.becameSubscribed(entry);
      return;
    }
    if (stored && sameToken && stored.state === 'refused') {
      // refused for this very token before: no new attempt until the token changes
      this.fallBack(entry, stored.lastError ?? 'the instance refused the push subscription', false);
      return;
    }
    await this.subscribe(entry);
  }

  private async subscribe(entry: WebPushEntry): Promise<void> {
    const generation = entry.generation;
    const registration = entry.registration;
    const publicUrl = this.settings.publicUrl;
    if (!publicUrl) return;
    const keys = generatePushKeys();
    const subscription: PushSubscription = {
      registrationId: registration.id,
      pushId: newPushId(),
      ...keys,
      serverKey: null,
      state: 'subscribing',
      tokenHash: hashSecret(registration.accessToken),
      lastError: null,
      updatedAt: Date.now(),
    };
    const target = this.target(entry);
    try {
      // stored before the instance hears of it: a push arriving right after the answer finds its keys
      await this.subscriptions.save(subscription);
      if (entry.generation !== generation) return;
      const info = await this.instances.get(target.base, { guard: target.guard });
      if (entry.generation !== generation) return;
      const answer = await this.client.subscribe({
        ...target,
        endpoint: pushEndpoint(publicUrl, subscription.pushId),
        p256dh: keys.publicKey,
        auth: keys.authSecret,
        standard: asksStandard(info.version),
        alerts: alertsFor(),
      });
      if (entry.generation !== generation) return;
      await this.subscriptions.updateState(registration.id, 'subscribed', { serverKey: answer.serverKey, lastError: null });
      if (entry.generation !== generation) return;
      entry.subscription = { ...subscription, serverKey: answer.serverKey, state: 'subscribed' };
      this.outcomes.inc({ outcome: 'subscribed' });
      this.logger.log(
        `push subscription made for ${registrationLabel(registration)} (${asksStandard(info.version) ? 'aes128gcm' : 'aesgcm'})`,
      );
      this.becameSubscribed(entry);
    } catch (error) {
      if (entry.generation !== generation) return;
      const message = (error as Error).message;
      if (isRefusal(error)) {
        const detail = `the instance refused the push subscription (${message}); using the stream`;
        await this.subscriptions
          .updateState(registration.id, 'refused', { lastError: detail })
          .catch((failure: Error) => this.logger.error(`push subscription state not written: ${failure.message}`));
        if (entry.generation !== generation) return;
        this.outcomes.inc({ outcome: 'refused' });
        this.fallBack(entry, detail, true);
        return;
      }
      this.failed(entry, `push subscription not made (${message})`);
    }
  }

  /** The subscription is in place: no stream for it any more, and what was missed meanwhile comes from the cursor. */
  private becameSubscribed(entry: WebPushEntry): void {
    entry.state = 'subscribed';
    entry.attempt = 0;
    const id = entry.registration.id;
    this.streams.stop(id, 'now served by Web Push', { forget: false, quiet: true });
    this.recorder.record(id, 'subscribed');
    this.catchUp.opened(this.source(entry));
  }

  private fallBack(entry: WebPushEntry, detail: string, log: boolean): void {
    entry.state = 'fallback';
    const label = registrationLabel(entry.registration);
    if (log) this.logger.warn(`${label}: ${detail}`);
    this.streams.ensure(entry.registration, entry.instance);
    this.recorder.record(entry.registration.id, 'connecting', { lastError: detail });
  }

  private failed(entry: WebPushEntry, what: string): void {
    this.outcomes.inc({ outcome: 'failed' });
    const delay = reconnectDelay(entry.attempt, this.retry.baseMs, this.retry.maxMs);
    entry.attempt += 1;
    entry.state = 'retrying';
    clearTimeout(entry.retryTimer);
    const generation = entry.generation;
    entry.retryTimer = setTimeout(() => {
      entry.retryTimer = undefined;
      if (entry.generation === generation && !this.stopping) this.schedule(entry);
    }, delay);
    entry.retryTimer.unref();
    this.recorder.record(entry.registration.id, 'retrying', { lastError: what });
    this.logger.warn(`${what} for ${registrationLabel(entry.registration)}; retrying in ${delay} ms`);
  }

  /** A new token: the new subscription replaces the old one (whose push id then answers 404, so the instance drops it). */
  private restart(entry: WebPushEntry): void {
    entry.generation += 1;
    clearTimeout(entry.retryTimer);
    entry.retryTimer = undefined;
    entry.attempt = 0;
    if (entry.state === 'fallback') this.streams.stop(entry.registration.id, 'token changed', { forget: false, quiet: true });
    entry.state = 'subscribing';
    entry.subscription = undefined;
    this.recorder.record(entry.registration.id, 'connecting');
    // its stored subscription names the old token's hash: start() makes a new one
    this.schedule(entry);
  }

  private async unsubscribe(entry: WebPushEntry, why: string): Promise<void> {
    if (entry.state === 'subscribed' || entry.state === 'subscribing' || entry.state === 'retrying')
      await this.deleteSubscription(entry, why);
    else await this.deleteStored(entry.registration.id);
  }

  /** `DELETE /api/v1/push/subscription` with the registration's token, then the stored row. */
  private async deleteSubscription(entry: { registration: Registration; instance: InstanceEntry }, why: string): Promise<void> {
    const label = registrationLabel(entry.registration);
    try {
      await this.client.unsubscribe(this.target(entry));
      this.outcomes.inc({ outcome: 'unsubscribed' });
      this.logger.log(`push subscription deleted for ${label}: ${why}`);
    } catch (error) {
      // its push id is gone here too: the instance's next push is answered 410 and it drops the subscription
      this.logger.warn(`push subscription of ${label} not deleted at the instance (${(error as Error).message})`);
    }
    await this.deleteStored(entry.registration.id);
  }

  private async deleteStored(registrationId: number): Promise<void> {
    try {
      await this.subscriptions.deleteByRegistration(registrationId);
    } catch (error) {
      // a full resync deletes what is left of registrations that are gone
      this.logger.error(`push subscription of registration ${registrationId} not deleted: ${(error as Error).message}`);
    }
  }

  /** The notifications REST API refused the token (401 revoked, 403 scope): the registration ends, as for a stream. */
  private tokenRefused(registrationId: number, reason: TokenRefusal, detail: string): void {
    const entry = this.entries.get(registrationId);
    if (!entry || entry.state === 'fallback') return;
    const registration = entry.registration;
    this.stop(registrationId, detail, { unsubscribe: true });
    void this.removal.remove(registration, reason, detail);
  }

  /** Pushes of `registrationId` could not be turned into notifications because the token was refused. */
  refused(registrationId: number, reason: TokenRefusal, detail: string): void {
    this.tokenRefused(registrationId, reason, detail);
  }

  /** One slice of the periodic sweep: the catch-up fetches from each subscribed registration's cursor. */
  private sweepSlice(): void {
    if (this.stopping) return;
    const slice = this.sweepTick % SWEEP_SLICES;
    this.sweepTick += 1;
    for (const entry of this.entries.values()) {
      if (entry.state === 'subscribed' && entry.registration.id % SWEEP_SLICES === slice)
        this.catchUp.opened(this.source(entry));
    }
  }

  /** Deletes the stored subscriptions of registrations that are gone (unregistered while no listener held them). */
  async deleteOrphans(): Promise<void> {
    const deleted = await this.subscriptions.deleteOrphans();
    if (deleted > 0) this.logger.log(`${deleted} push subscription(s) of removed registrations deleted`);
  }

  target(entry: { registration: Registration; instance: InstanceEntry }): PushCallTarget {
    const { registration, instance } = entry;
    return {
      base: instance.replaceUrlWeb ?? registration.instanceUrl,
      guard: !instance.replaceUrlWeb && instance.allowPrivateAddress !== true,
      accessToken: registration.accessToken,
    };
  }

  private source(entry: WebPushEntry): CatchUpSource {
    return { registration: entry.registration, instance: entry.instance, endpoint: 'user:notification' };
  }
}
