import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { CallbackDispatcher } from '@app/callback';
import { InstanceEntry, SETTINGS, Settings } from '@app/config';
import { Registration, registrationLabel } from '@app/database';
import {
  MastodonStream,
  MastodonStreamFactory,
  MastodonStreamHandler,
  StreamEnd,
  StreamTargetError,
  StreamTargetService,
} from '@app/mastodon';
import { urlForLog } from '@app/security';
import { CatchUpService, TokenRefusal } from '../catch-up/catch-up.service';
import { EventRouterService } from '../events/event-router.service';
import { InstanceHealth, suggestsOutage } from '../instance-health/instance-health';
import { MembershipService } from '../membership/membership.service';
import { RegistrationRemovalService } from '../lifecycle/registration-removal.service';
import { RegistrationStateRecorder } from '../lifecycle/registration-state.recorder';
import { refusalReason } from '../lifecycle/removal-reason';
import { ListenerMetrics, StreamFailureLabel } from '../listener.metrics';
import { reconnectDelay } from './backoff';
import { EventLoopLagService } from './event-loop-lag.service';
import { OpeningLimiter } from './opening-limiter';
import { connectionSettingsKey, StreamEntry } from './stream-entry';

/** A connection that stayed up this long starts the backoff over when it drops. */
export const STABLE_CONNECTION_MS = 60_000;
/** The close code ws reports when Mastodon closed without one: what it does to the sockets of a revoked token. */
const CLOSED_WITHOUT_CODE = 1005;
/** At shutdown, how long closing handshakes (code 1001) may take before sockets are cut. */
const SHUTDOWN_CLOSE_GRACE_MS = 2_000;
/**
 * Pings go out in slices this far apart, each stream in one slice per
 * interval: 10,000 pings at once (and their 10,000 pongs) held every event
 * behind them (relay p99 147–363 ms at 2,000 events/s, 13.8–46.3 ms sliced).
 */
const PING_SLICE_MS = 250;

/**
 * Holds one Mastodon stream per allowed registration: opens it (within the
 * instance's maxConnections and maxOpening), relays its frames to the event
 * router, pings every open stream from one shared timer, reconnects with
 * backoff, and ends the registration when the instance refuses its token.
 * While an instance is down its streams wait for one probe (InstanceHealth)
 * instead of each retrying on its own backoff. Each stream's transitions go to
 * the state recorder; removals to the removal service.
 */
@Injectable()
export class StreamRegistryService
  implements MastodonStreamHandler<StreamEntry>, OnModuleInit, OnModuleDestroy
{
  private readonly logger = new Logger(StreamRegistryService.name);
  private readonly entries = new Map<number, StreamEntry>();
  private readonly handshakes = new OpeningLimiter<StreamEntry>((entry) =>
    this.startHandshake(entry),
  );
  private readonly connections = new OpeningLimiter<StreamEntry>((entry) => this.connect(entry));
  private readonly health: InstanceHealth<StreamEntry>;
  private readonly listener: Settings['listener'];
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly pingSlices: number;
  private pingTick = 0;
  private lastSweepAt = 0;
  private stopping = false;
  private openStreams = 0;
  /** Streams whose end has not been reported yet (to wait for them at shutdown). */
  private readonly liveStreams = new Set<MastodonStream<StreamEntry>>();
  /** Streams told to close (stopped, moved away, over a lowered limit) that have not ended yet. */
  private readonly closingStreams = new Set<MastodonStream<StreamEntry>>();
  private allEnded: (() => void) | undefined;
  /**
   * Registrations whose token the instance refused, by id, with the lastUpdate
   * of that row: a reconcile pass that read the row before its deletion must
   * not reopen it. A renewed row (another lastUpdate) is tried again.
   */
  private readonly revokedRows = new Map<number, number>();

  constructor(
    private readonly targets: StreamTargetService,
    private readonly streamFactory: MastodonStreamFactory,
    private readonly router: EventRouterService,
    private readonly recorder: RegistrationStateRecorder,
    private readonly removal: RegistrationRemovalService,
    private readonly dispatcher: CallbackDispatcher,
    private readonly metrics: ListenerMetrics,
    private readonly catchUp: CatchUpService,
    private readonly membership: MembershipService,
    private readonly loopLag: EventLoopLagService,
    @Inject(SETTINGS) settings: Settings,
  ) {
    this.listener = settings.listener;
    this.pingSlices = Math.max(1, Math.round(this.listener.pingIntervalMs / PING_SLICE_MS));
    this.health = new InstanceHealth<StreamEntry>(
      { probeBaseMs: this.listener.probeBaseMs, probeMaxMs: this.listener.probeMaxMs },
      {
        instanceDown: (key) => this.instanceDown(key),
        probe: (entry) => this.retry(entry),
        reopen: (key, waiting, downForMs) => this.reopen(key, waiting, downForMs),
      },
    );
  }

  onModuleInit(): void {
    this.catchUp.onTokenRefused((id, reason, detail) => this.removeRefused(id, reason, detail));
    this.pingTimer = setInterval(
      () => this.pingSweep(),
      this.listener.pingIntervalMs / this.pingSlices,
    );
    this.pingTimer.unref();
  }

  /**
   * Closes every stream with 1001 (going away), then cuts what has not closed
   * within a short grace. A stream stays its entry's current one while it
   * closes, so frames still arriving on it are relayed (the dispatcher stores
   * what it cannot deliver before the process exits).
   */
  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    clearInterval(this.pingTimer);
    this.health.stop();
    const count = this.entries.size;
    for (const entry of this.entries.values()) {
      entry.state = 'stopped';
      entry.generation += 1;
      clearTimeout(entry.retryTimer);
      entry.stream?.close(1001, 'listener shutting down');
    }
    this.entries.clear();
    if (this.liveStreams.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, SHUTDOWN_CLOSE_GRACE_MS);
        this.allEnded = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      for (const stream of this.liveStreams) stream.terminate();
    }
    this.logger.log(`closed ${count} stream(s)`);
  }

  /** Registrations the registry holds a stream (in any state) for. */
  get size(): number {
    return this.entries.size;
  }

  /** Streams open right now. */
  get openCount(): number {
    return this.openStreams;
  }

  has(registrationId: number): boolean {
    return this.entries.has(registrationId);
  }

  /** Opens a stream for `registration`, or brings its stream up to date (a new token or endpoint reconnects). */
  ensure(registration: Registration, instance: InstanceEntry): void {
    if (this.stopping) return;
    const revokedAt = this.revokedRows.get(registration.id);
    if (revokedAt !== undefined) {
      if (revokedAt === registration.lastUpdate) return;
      this.revokedRows.delete(registration.id);
    }
    const key = connectionSettingsKey(instance);
    const entry = this.entries.get(registration.id);
    if (!entry) {
      const created = new StreamEntry(registration, instance, key);
      this.entries.set(registration.id, created);
      this.recorder.record(registration.id, 'connecting');
      if (this.connections.acquire(created.instanceUrl, created, this.connectionLimit(instance))) {
        this.connect(created);
      } else {
        this.logger.log(
          `stream for ${registrationLabel(registration)} waits: ${created.instanceUrl} is at its maxConnections`,
        );
      }
      return;
    }
    const previous = entry.registration;
    if (previous.instanceUrl !== registration.instanceUrl) {
      this.stop(registration.id, 'instance changed', { forget: false });
      this.ensure(registration, instance);
      return;
    }
    const changes: string[] = [];
    if (previous.accessToken !== registration.accessToken) changes.push('token');
    if (previous.endpoint !== registration.endpoint) changes.push('endpoint');
    if (entry.instanceKey !== key) changes.push('instance_map entry');
    const limitChanged = entry.instance.maxConnections !== instance.maxConnections;
    entry.registration = registration;
    entry.instance = instance;
    entry.instanceKey = key;
    if (changes.length > 0 && entry.state !== 'waiting_slot') {
      this.logger.log(
        `${changes.join(', ')} changed for ${registrationLabel(registration)}: reconnecting`,
      );
      this.restart(entry);
    } else if (previous.callbackUrl !== registration.callbackUrl) {
      this.logger.log(`callback URL updated for ${registrationLabel(registration)}`);
    }
    if (limitChanged) this.connections.pump(entry.instanceUrl, this.connectionLimit(instance));
  }

  /**
   * Closes and forgets the stream of `registrationId`. `forget`: the
   * registration itself is gone, so its undelivered callbacks are dropped too.
   */
  stop(
    registrationId: number,
    why: string,
    options: { forget: boolean; quiet?: boolean },
  ): boolean {
    const entry = this.entries.get(registrationId);
    this.catchUp.stopped(registrationId, options.forget);
    if (options.forget) {
      this.dispatcher.forgetRegistration(registrationId);
      this.revokedRows.delete(registrationId);
    }
    if (!entry) return false;
    this.recorder.forget(registrationId);
    this.entries.delete(registrationId);
    this.health.forget(entry.instanceUrl, entry);
    entry.state = 'stopped';
    entry.generation += 1;
    clearTimeout(entry.retryTimer);
    entry.retryTimer = undefined;
    const stream = entry.stream;
    entry.stream = undefined;
    this.handshakes.release(entry.instanceUrl, entry, this.maxOpening(entry));
    if (stream) {
      // the slot is free once the socket is really gone (streamEnded), not while it is closing
      entry.closingStream = stream;
      this.closingStreams.add(stream);
      stream.close(1000, 'registration stopped');
    } else {
      this.connections.release(entry.instanceUrl, entry, this.connectionLimit(entry.instance));
    }
    if (!options.quiet)
      this.logger.log(`stream closed for ${registrationLabel(entry.registration)}: ${why}`);
    return true;
  }

  /**
   * Resolves once every stream told to close has ended, or after
   * `timeoutMs`: a listener tells the others it let go of its streams only
   * when they are really gone, so that a limit shared across listeners holds.
   */
  async closed(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.closingStreams.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /**
   * Resolves once none of `registrationIds` is still on its way to open
   * (resolving, waiting for a handshake, connecting), or after `timeoutMs`:
   * a listener taking streams over opens them before the others let go.
   */
  async opening(registrationIds: number[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const underway = (id: number) => {
      const state = this.entries.get(id)?.state;
      return state === 'resolving' || state === 'waiting_handshake' || state === 'connecting';
    };
    let pending = registrationIds.filter(underway);
    while (pending.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      pending = pending.filter(underway);
    }
  }

  /**
   * After a config reload or a change of listeners: limits (or this
   * listener's part of them) may have been raised, so waiting streams may
   * start, or cut, so the newest streams over the limit wait again.
   */
  refreshLimits(): void {
    for (const entry of this.entries.values()) {
      const limit = this.connectionLimit(entry.instance);
      for (const over of this.connections.newestOverLimit(entry.instanceUrl, limit)) {
        this.waitForSlotAgain(over, limit);
      }
    }
    for (const key of this.connections.keysWithWaiting()) {
      const first = this.connections.firstWaiting(key);
      if (first) this.connections.pump(key, this.connectionLimit(first.instance));
    }
    for (const key of this.handshakes.keysWithWaiting()) {
      const first = this.handshakes.firstWaiting(key);
      if (first) this.handshakes.pump(key, this.maxOpening(first));
    }
  }

  streamOpened(stream: MastodonStream<StreamEntry>): void {
    const entry = stream.context;
    if (entry.stream !== stream) {
      stream.close(1000, 'superseded');
      return;
    }
    this.handshakes.release(entry.instanceUrl, entry, this.maxOpening(entry));
    this.health.reachable(entry.instanceUrl);
    entry.state = 'open';
    entry.openedAt = Date.now();
    entry.closedWithoutCode = false;
    this.recorder.record(entry.id, 'streaming', { endpointInUse: entry.endpoint });
    entry.countedStream = stream;
    this.openStreams += 1;
    this.metrics.streamsOpen.labels(entry.instanceUrl).inc();
    this.metrics.connects.labels(entry.instanceUrl).inc();
    this.logger.log(`stream open: ${entry.endpoint} for ${registrationLabel(entry.registration)}`);
    this.catchUp.opened(entry);
  }

  streamMessage(stream: MastodonStream<StreamEntry>, data: Buffer, isBinary: boolean): void {
    const entry = stream.context;
    if (entry.stream !== stream) return;
    try {
      const refusal = this.router.route(entry, data, isBinary, Date.now());
      if (refusal)
        this.tokenRefused(
          entry,
          refusalReason(refusal.status, refusal.error),
          `an error frame said ${refusal.status}: ${refusal.error}`,
        );
    } catch (error) {
      this.logger.error(
        `frame not handled for ${registrationLabel(entry.registration)}: ${(error as Error).message}`,
      );
    }
  }

  streamEnded(stream: MastodonStream<StreamEntry>, end: StreamEnd): void {
    this.liveStreams.delete(stream);
    this.closingStreams.delete(stream);
    if (this.liveStreams.size === 0) this.allEnded?.();
    const entry = stream.context;
    if (entry.countedStream === stream) {
      entry.countedStream = undefined;
      this.openStreams -= 1;
      this.metrics.streamsOpen.labels(entry.instanceUrl).dec();
    }
    if (entry.closingStream === stream) {
      entry.closingStream = undefined;
      this.connections.release(entry.instanceUrl, entry, this.connectionLimit(entry.instance));
    }
    if (entry.stream !== stream) return;
    entry.stream = undefined;
    this.handshakes.release(entry.instanceUrl, entry, this.maxOpening(entry));
    if (end.deliberate || entry.state === 'stopped' || this.stopping) return;
    if (suggestsOutage(end)) this.health.unreachable(entry.instanceUrl, entry);
    else if (!end.opened) this.health.reachable(entry.instanceUrl);
    if (end.reason === 'unauthorized') {
      const status = end.status ?? 401;
      this.tokenRefused(entry, refusalReason(status), `the upgrade answered HTTP ${status}`);
      return;
    }
    const cause = end.reason === 'closed' && end.opened ? '' : ` (${end.reason}: ${end.detail})`;
    const what = end.opened
      ? `stream closed with code ${end.code ?? 1006}${cause}`
      : `stream failed to open${cause}`;
    // Mastodon closes a revoked token's sockets without a code; the reconnect
    // tells whether it was that (401: one removal line) or a restart (it opens)
    const quiet = end.opened && end.code === CLOSED_WITHOUT_CODE;
    entry.closedWithoutCode = quiet;
    this.retryLater(entry, end.reason, what, quiet);
  }

  private connect(entry: StreamEntry): void {
    if (entry.state === 'stopped' || this.stopping) return;
    if (!this.health.mayConnect(entry.instanceUrl, entry)) {
      this.waitForInstance(entry);
      return;
    }
    const generation = ++entry.generation;
    entry.state = 'resolving';
    const registration = entry.registration;
    this.targets
      .resolve({
        instanceUrl: registration.instanceUrl,
        endpoint: registration.endpoint,
        instance: entry.instance,
      })
      .then(
        (target) => {
          if (entry.generation !== generation || entry.state !== 'resolving') return;
          entry.target = target;
          entry.endpoint = target.endpoint;
          if (this.handshakes.acquire(entry.instanceUrl, entry, this.maxOpening(entry)))
            this.startHandshake(entry);
          else entry.state = 'waiting_handshake';
        },
        (error: unknown) => {
          if (entry.generation !== generation || entry.state !== 'resolving') return;
          const reason = error instanceof StreamTargetError ? error.reason : 'instance_info';
          if (reason === 'instance_info') this.health.unreachable(entry.instanceUrl, entry);
          this.retryLater(
            entry,
            reason,
            `stream not opened (${reason}: ${(error as Error).message})`,
          );
        },
      )
      .catch((error: unknown) => {
        this.logger.error(
          `stream for ${registrationLabel(registration)} not started: ${(error as Error).message}`,
        );
      });
  }

  private startHandshake(entry: StreamEntry): void {
    const target = entry.target;
    if (entry.state === 'stopped' || this.stopping || !target) {
      this.handshakes.release(entry.instanceUrl, entry, this.maxOpening(entry));
      return;
    }
    if (!this.health.mayConnect(entry.instanceUrl, entry)) {
      this.handshakes.release(entry.instanceUrl, entry, this.maxOpening(entry));
      this.waitForInstance(entry);
      return;
    }
    entry.state = 'connecting';
    const stream = this.streamFactory.create<StreamEntry>(entry, this);
    entry.stream = stream;
    this.liveStreams.add(stream);
    this.logger.debug(
      `opening stream ${target.endpoint} at ${urlForLog(target.url.href)} for ${registrationLabel(entry.registration)}`,
    );
    stream.open({
      url: target.url,
      accessToken: entry.registration.accessToken,
      guard: target.guard,
    });
  }

  private restart(entry: StreamEntry): void {
    entry.generation += 1;
    clearTimeout(entry.retryTimer);
    entry.retryTimer = undefined;
    const stream = entry.stream;
    entry.stream = undefined;
    stream?.close(1000, 'registration changed');
    this.handshakes.release(entry.instanceUrl, entry, this.maxOpening(entry));
    entry.attempt = 0;
    entry.openedAt = 0;
    entry.closedWithoutCode = false;
    this.recorder.record(entry.id, 'connecting');
    this.connect(entry);
  }

  private retryLater(
    entry: StreamEntry,
    reason: StreamFailureLabel,
    what: string,
    quiet = false,
  ): void {
    this.metrics.streamFailed(entry.instanceUrl, reason);
    if (entry.openedAt > 0 && Date.now() - entry.openedAt >= STABLE_CONNECTION_MS)
      entry.attempt = 0;
    entry.openedAt = 0;
    if (this.health.isDown(entry.instanceUrl)) {
      this.waitForInstance(entry);
      return;
    }
    const delay = reconnectDelay(
      entry.attempt,
      this.listener.reconnectBaseMs,
      this.listener.reconnectMaxMs,
    );
    entry.attempt += 1;
    entry.state = 'backoff';
    clearTimeout(entry.retryTimer);
    entry.retryTimer = setTimeout(() => this.retry(entry), delay);
    this.recorder.record(entry.id, 'retrying', { lastError: what });
    const line = `${what} for ${registrationLabel(entry.registration)}; reconnecting in ${delay} ms`;
    if (quiet) this.logger.debug(line);
    else this.logger.warn(line);
  }

  /** The reconnect timer of `entry` fired, or its instance chose it as the probe. */
  private retry(entry: StreamEntry): void {
    entry.retryTimer = undefined;
    if ((entry.state !== 'backoff' && entry.state !== 'waiting_instance') || this.stopping) return;
    this.metrics.reconnects.labels(entry.instanceUrl).inc();
    this.connect(entry);
  }

  /** The instance of `entry` is down: no attempt of its own until the probe gets through. */
  private waitForInstance(entry: StreamEntry): void {
    clearTimeout(entry.retryTimer);
    entry.retryTimer = undefined;
    entry.state = 'waiting_instance';
    this.health.wait(entry.instanceUrl, entry);
  }

  /** `instanceUrl` went down: its streams waiting on their own backoff wait for the probe instead. */
  private instanceDown(instanceUrl: string): void {
    for (const entry of this.entries.values()) {
      if (entry.instanceUrl === instanceUrl && entry.state === 'backoff')
        this.waitForInstance(entry);
    }
    this.logger.warn(
      `${instanceUrl} looks unreachable: its streams wait for one probe (${this.health.waitingCount(instanceUrl)} waiting)`,
    );
  }

  /** The probe got through: every stream that waited for `instanceUrl` reopens now, through the opening limit. */
  private reopen(instanceUrl: string, waiting: StreamEntry[], downForMs: number): void {
    this.logger.log(
      `${instanceUrl} answers again after ${Math.round(downForMs / 100) / 10} s: reopening ${waiting.length} waiting stream(s)`,
    );
    for (const entry of waiting) this.retry(entry);
  }

  /**
   * The REST API of catch-up refused the token (401 `revoked`, 403 `scope`:
   * it may not read notifications): the same end as a refusal on the stream.
   */
  removeRefused(registrationId: number, reason: TokenRefusal, detail: string): void {
    const entry = this.entries.get(registrationId);
    if (entry) this.tokenRefused(entry, reason, detail);
  }

  /**
   * Mastodon refused the token (401/403 on the upgrade, an error frame on the
   * open socket, or the REST API): the stream stops and the registration ends,
   * unless it was renewed meanwhile. One log line (the removal's), whatever came before.
   */
  private tokenRefused(entry: StreamEntry, reason: TokenRefusal, how: string): void {
    const registration = entry.registration;
    const { id, lastUpdate } = registration;
    const detail = entry.closedWithoutCode ? `the stream closed without a code, then ${how}` : how;
    this.metrics.streamFailed(entry.instanceUrl, 'unauthorized');
    this.stop(id, detail, { forget: true, quiet: true });
    this.revokedRows.set(id, lastUpdate);
    void this.removal.remove(registration, reason, detail).then((removed) => {
      // not removed (renewed meanwhile, or the database failed): the token was refused all the same
      if (!removed && !this.entries.has(id))
        this.recorder.record(id, 'unauthorized', { lastError: detail });
    });
  }

  /**
   * One timer for every stream, pinging the open streams of the next slice (a
   * stream's slice is its id modulo the slice count): a stream that did not
   * answer its previous ping is cut (and reconnects). When this sweep itself
   * runs late, the process was stalled (CPU starvation, a long GC) and pongs
   * may still be unread: nobody is cut this time, or one stall would drop every
   * stream of the slice at once.
   */
  private pingSweep(now = Date.now()): void {
    const interval = this.listener.pingIntervalMs;
    const stalled =
      this.lastSweepAt > 0 && now - this.lastSweepAt > interval / this.pingSlices + interval / 2;
    this.lastSweepAt = now;
    const slice = this.pingTick % this.pingSlices;
    this.pingTick += 1;
    for (const entry of this.entries.values()) {
      if (entry.state === 'open' && entry.id % this.pingSlices === slice)
        entry.stream?.ping(stalled);
    }
  }

  /** A stream over its instance's (lowered) limit: closed, back in line for a connection slot. */
  private waitForSlotAgain(entry: StreamEntry, limit: number | undefined): void {
    entry.generation += 1;
    clearTimeout(entry.retryTimer);
    entry.retryTimer = undefined;
    const stream = entry.stream;
    entry.stream = undefined;
    if (stream) {
      this.closingStreams.add(stream);
      stream.close(1000, 'over the instance connection limit');
    }
    this.handshakes.release(entry.instanceUrl, entry, this.maxOpening(entry));
    this.connections.release(entry.instanceUrl, entry, limit);
    entry.state = 'waiting_slot';
    entry.attempt = 0;
    entry.openedAt = 0;
    if (this.connections.acquire(entry.instanceUrl, entry, limit)) this.connect(entry);
    else
      this.logger.log(
        `stream for ${registrationLabel(entry.registration)} waits: ${entry.instanceUrl} is at its maxConnections`,
      );
  }

  /** This listener's part of the instance's maxConnections (the whole limit when it runs alone). */
  private connectionLimit(instance: InstanceEntry): number | undefined {
    return this.membership.connectionShare(instance.maxConnections);
  }

  /** This listener's part of the instance's handshakes in progress (less while its event loop is behind). */
  private maxOpening(entry: StreamEntry): number {
    return this.loopLag.openingLimit(
      this.membership.openingShare(entry.instance.maxOpening ?? this.listener.maxOpeningPerInstance),
    );
  }
}
