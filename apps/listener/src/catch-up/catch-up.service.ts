import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { CallbackDispatcher, RelayEvent, relayTargetOf } from '@app/callback';
import { InstanceEntry, SETTINGS, Settings, StreamEndpoint } from '@app/config';
import { Registration, registrationLabel } from '@app/database';
import {
  compareMastodonIds,
  MastodonCollection,
  MastodonItem,
  MastodonRestClient,
  MastodonRestError,
  MAX_PAGE_LIMIT,
  Page,
} from '@app/mastodon';
import { MetricsService } from '@app/observability';
import { RegistrationStateRecorder } from '../lifecycle/registration-state.recorder';
import { MembershipService } from '../membership/membership.service';
import { reconnectDelay } from '../streams/backoff';
import { CatchUpCursorsService } from './catch-up-cursors.service';
import { CursorBook } from './cursor-book';
import { InstanceGate } from './instance-gate';

/** What the catch-up needs to know about a registration's stream. */
export interface CatchUpSource {
  readonly registration: Registration;
  readonly instance: Pick<InstanceEntry, 'replaceUrlWeb' | 'allowPrivateAddress'>;
  /** The endpoint the stream was opened with. */
  readonly endpoint: StreamEndpoint | undefined;
}

/** Why Mastodon's REST API refused the token: `revoked` (401), `scope` (403: it may not read notifications). */
export type TokenRefusal = 'revoked' | 'scope';
export type TokenRefusedListener = (
  registrationId: number,
  reason: TokenRefusal,
  detail: string,
) => void;

/** `msl_catchup_total{outcome}`: one per object (relayed, duplicate, skipped_*) or per attempt (the rest). */
export type CatchUpOutcome =
  | 'relayed'
  | 'duplicate'
  | 'skipped_max_items'
  | 'skipped_age'
  | 'floor'
  | 'failed'
  | 'rate_limited'
  | 'refused_token';

/** Live events of one registration held while its catch-up runs; beyond this they are let go (see relay). */
const MAX_BUFFERED_EVENTS = 5_000;
/** Ids remembered per registration to recognise stream events its catch-up already relayed. */
const MAX_REMEMBERED_IDS = 5_000;
/**
 * Longest a catch-up holds a registration's live events. A slower one (a
 * queue of thousands at one instance after its restart, a slow answer) lets
 * them go and relays what it fetches after them, each id still once.
 */
const MAX_HOLD_MS = 1_000;
/** Used when a 429 says nothing about when to come back. */
const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;

/** One registration's place at the seam between what REST returns and what the stream sends. */
interface Seam {
  source: CatchUpSource;
  /** A floor or catch-up request sequence is running. */
  running: boolean;
  /** The stream opened again while one ran: run once more when it ends. */
  again: boolean;
  /** Live events waiting for the catch-up to be relayed first. */
  buffer: RelayEvent[] | undefined;
  holdTimer: NodeJS.Timeout | undefined;
  /** The floor of a first open failed; a live event relayed since makes it unnecessary. */
  floorPending: boolean;
  attempt: number;
  retryTimer: NodeJS.Timeout | undefined;
  /** Ids relayed live while a failed catch-up waits to be redone (not relayed again by it). */
  seen: Set<string> | undefined;
  /** Ids the last catch-up relayed (their copies arriving late on the stream are dropped). */
  recent: Set<string> | undefined;
}

interface Missed {
  items: MastodonItem[];
  requests: number;
  skippedAge: number;
  skippedMax: number;
}

/**
 * Nothing lost across a gap. A registration's first stream open takes the
 * newest object id as its floor (`?limit=1`: no flood of old history). Every
 * later open fetches what is newer than the cursor through the REST API
 * (socket first, so nothing falls between the two), relays it oldest first,
 * then the live events held meanwhile, each Mastodon id once. A catch-up
 * that fails lets the held events go at once and is retried with backoff;
 * the cursor stays before the gap until it has been fetched.
 */
@Injectable()
export class CatchUpService implements OnModuleDestroy {
  private readonly logger = new Logger(CatchUpService.name);
  private readonly seams = new Map<number, Seam>();
  private readonly gate: InstanceGate;
  private readonly book: CursorBook;
  private readonly refusedListeners = new Set<TokenRefusedListener>();
  private readonly outcomes: Counter<'outcome'>;
  private readonly settings: Settings['catchUp'];
  private stopping = false;

  constructor(
    private readonly dispatcher: CallbackDispatcher,
    private readonly rest: MastodonRestClient,
    cursors: CatchUpCursorsService,
    private readonly recorder: RegistrationStateRecorder,
    membership: MembershipService,
    metrics: MetricsService,
    @Inject(SETTINGS) settings: Settings,
  ) {
    this.book = cursors.book;
    this.settings = settings.catchUp;
    // the limit is the cluster's: each listener takes its share, as for handshakes
    this.gate = new InstanceGate(() =>
      membership.openingShare(this.settings.maxConcurrencyPerInstance),
    );
    this.outcomes = metrics.counter(
      'msl_catchup_total',
      'Catch-up after a gap: objects relayed, duplicates and skips; floors taken, failed and rate-limited attempts',
      ['outcome'],
    );
  }

  onModuleDestroy(): void {
    this.stopping = true;
    for (const seam of this.seams.values()) {
      clearTimeout(seam.retryTimer);
      clearTimeout(seam.holdTimer);
    }
    this.gate.stop();
  }

  /** `listener` removes a registration whose token the REST API refused; returns an unsubscribe function. */
  onTokenRefused(listener: TokenRefusedListener): () => void {
    this.refusedListeners.add(listener);
    return () => this.refusedListeners.delete(listener);
  }

  /** A live event from the stream of `event.registrationId`. Runs for every relayed event: a map lookup when no catch-up is on. */
  relay(event: RelayEvent): void {
    const seam = this.seams.get(event.registrationId);
    if (seam) {
      if (seam.buffer) {
        if (seam.buffer.length < MAX_BUFFERED_EVENTS) {
          seam.buffer.push(event);
          return;
        }
        // a catch-up this slow must not hold memory without bound: treat it as failed for the live side
        this.stopHolding(seam);
      }
      const id = event.objectId;
      if (id !== undefined) {
        if (seam.recent?.has(id)) {
          this.count('duplicate');
          return;
        }
        if (seam.seen && seam.seen.size < MAX_REMEMBERED_IDS) seam.seen.add(id);
      }
    }
    this.hand(event);
  }

  /** The stream of `source` is open: take the floor or catch up. */
  opened(source: CatchUpSource): void {
    if (this.stopping) return;
    const id = source.registration.id;
    this.book.adopt(id, collectionOf(source), source.registration.lastNotificationId ?? null);
    let seam = this.seams.get(id);
    if (!seam) {
      seam = {
        source,
        running: false,
        again: false,
        buffer: undefined,
        holdTimer: undefined,
        // Stryker disable next-line BooleanLiteral: opened() sets it to false before start() reads it
        floorPending: false,
        attempt: 0,
        retryTimer: undefined,
        seen: undefined,
        recent: undefined,
      };
      this.seams.set(id, seam);
    }
    seam.source = source;
    if (seam.running) {
      // this open left a gap of its own after the running request started
      seam.again = true;
      return;
    }
    clearTimeout(seam.retryTimer);
    seam.retryTimer = undefined;
    // a reopen leaves a gap of its own, whatever the floor did
    seam.floorPending = false;
    this.start(seam);
  }

  /** The registry stopped the registration's stream; `forget`: the registration itself is gone. */
  stopped(registrationId: number, forget: boolean): void {
    const seam = this.seams.get(registrationId);
    if (seam) {
      clearTimeout(seam.retryTimer);
      clearTimeout(seam.holdTimer);
      this.seams.delete(registrationId);
    }
    if (forget) this.book.forget(registrationId);
  }

  private start(seam: Seam): void {
    const source = seam.source;
    const id = source.registration.id;
    const from = this.book.catchUpFrom(id);
    if (from === null) {
      seam.running = true;
      void this.takeFloor(seam);
      return;
    }
    if (seam.floorPending) {
      // a live event of this first open set the cursor: nothing before it is owed
      // Stryker disable next-line BooleanLiteral: only start() reads it, and each later start() comes after opened() or a floor set it again
      seam.floorPending = false;
      this.finished(seam);
      return;
    }
    seam.running = true;
    const paused = this.gate.pausedFor(source.registration.instanceUrl);
    if (paused > 0) {
      // holding live events that long would delay them: fail now, retry when the pause is over
      // Stryker disable next-line ArithmeticOperator: the gate is paused until then already; failed() only pauses it again
      const until = Date.now() + paused;
      this.failed(
        seam,
        // Stryker disable next-line StringLiteral: the message is only logged
        new MastodonRestError('rate_limited', `instance asked to wait ${paused} ms`, 429, until),
        true,
      );
      return;
    }
    seam.buffer ??= [];
    clearTimeout(seam.holdTimer);
    seam.holdTimer = setTimeout(() => {
      seam.holdTimer = undefined;
      // Stryker disable next-line ConditionalExpression,LogicalOperator: a stopped seam's timer is cleared; after an overflow let go, holding again changes nothing (the same catch-up releases it)
      if (!seam.buffer || !this.isCurrent(seam)) return;
      this.stopHolding(seam);
    }, MAX_HOLD_MS);
    seam.holdTimer.unref();
    void this.catchUp(seam, from);
  }

  private async takeFloor(seam: Seam): Promise<void> {
    const source = seam.source;
    try {
      const page = await this.request(seam, { limit: 1 });
      if (!this.isCurrent(seam)) return;
      // Stryker disable next-line BlockStatement: the block only logs
      if (this.book.catchUpFrom(source.registration.id) !== null) {
        // A live event came first. It is newer than anything made before the socket opened, so it
        // is a floor already; the answer, newer still, may list what a drop of the socket hid.
        this.logger.debug(
          `catch-up floor for ${registrationLabel(source.registration)}: a live event came first`,
        );
      } else {
        // an empty account: every id is newer than "0", numeric or not
        this.book.advanceTo(source.registration.id, page.items[0]?.key ?? '0');
      }
      // nothing before a floor is owed: a hold left from before (another id space since) ends with it
      this.book.release(source.registration.id);
      this.count('floor');
      this.logger.debug(`catch-up floor taken for ${registrationLabel(source.registration)}`);
      seam.attempt = 0;
      seam.floorPending = false;
      this.finished(seam);
    } catch (error) {
      if (this.isCurrent(seam)) this.failed(seam, error, false);
    }
  }

  private async catchUp(seam: Seam, from: string): Promise<void> {
    const source = seam.source;
    const id = source.registration.id;
    let missed: Missed;
    try {
      missed = await this.fetchMissed(seam, from);
    } catch (error) {
      if (this.isCurrent(seam)) this.failed(seam, error, true);
      return;
    }
    if (!this.isCurrent(seam)) return;
    const event = source.endpoint === 'direct' ? 'conversation' : 'notification';
    const registration = source.registration;
    const seen = seam.seen;
    const recent = new Set<string>();
    const now = Date.now();
    let relayed = 0;
    let duplicates = 0;
    for (const item of missed.items) {
      if (seen?.has(item.key) || recent.has(item.key)) {
        duplicates += 1;
        continue;
      }
      recent.add(item.key);
      relayed += 1;
      this.hand({
        ...relayTargetOf(registration),
        event,
        payload: item.json,
        objectId: item.key,
        receivedAt: now,
      });
    }
    clearTimeout(seam.holdTimer);
    seam.holdTimer = undefined;
    this.book.release(id);
    seam.seen = undefined;
    const buffer = seam.buffer ?? [];
    seam.buffer = undefined;
    for (const live of buffer) {
      if (live.objectId !== undefined && recent.has(live.objectId)) duplicates += 1;
      else this.hand(live);
    }
    if (recent.size > 0) seam.recent = recent;
    seam.attempt = 0;
    this.count('relayed', relayed);
    this.count('duplicate', duplicates);
    this.count('skipped_age', missed.skippedAge);
    this.count('skipped_max_items', missed.skippedMax);
    const label = registrationLabel(registration);
    // Stryker disable ConditionalExpression,LogicalOperator,EqualityOperator,BlockStatement: only chooses the log line
    if (missed.skippedAge > 0 || missed.skippedMax > 0) {
      this.logger.warn(
        `catch-up for ${label}: relayed ${relayed}, skipped ${missed.skippedMax} beyond CATCHUP_MAX_ITEMS (${this.settings.maxItems}) ` +
          `and ${missed.skippedAge} older than CATCHUP_MAX_AGE_HOURS (${this.settings.maxAgeHours})`,
      );
    } else if (relayed > 0) {
      this.logger.log(
        `catch-up for ${label}: relayed ${relayed} missed ${event}(s) in ${missed.requests} request(s)`,
      );
    }
    // Stryker restore ConditionalExpression,LogicalOperator,EqualityOperator,BlockStatement
    this.finished(seam);
  }

  /**
   * Pages back from the newest object to `from` (since_id, then max_id of the
   * oldest object so far), newest first, until an empty or short page, the
   * age bound, or CATCHUP_MAX_ITEMS (asking for one more than still fits, so
   * that a skip is noticed). Returns the objects oldest first.
   */
  private async fetchMissed(seam: Seam, from: string): Promise<Missed> {
    const { maxItems, maxAgeHours } = this.settings;
    const oldestAllowed = Date.now() - maxAgeHours * 3_600_000;
    const collected: MastodonItem[] = [];
    const missed: Missed = { items: [], requests: 0, skippedAge: 0, skippedMax: 0 };
    let maxId: string | undefined;
    for (;;) {
      const limit = Math.min(MAX_PAGE_LIMIT, maxItems - collected.length + 1);
      const page = await this.request(seam, { limit, sinceId: from, maxId });
      // Stryker disable next-line AssignmentOperator: the request count is only logged
      missed.requests += 1;
      if (!this.isCurrent(seam)) break;
      const fresh = page.items.filter(
        (item) =>
          compareMastodonIds(item.key, from) > 0 &&
          (maxId === undefined || compareMastodonIds(item.key, maxId) < 0),
      );
      let stop = fresh.length === 0;
      for (let index = 0; index < fresh.length; index++) {
        const item = fresh[index];
        if (item.createdAt !== undefined && item.createdAt < oldestAllowed) {
          missed.skippedAge += fresh.length - index;
          stop = true;
          break;
        }
        if (collected.length >= maxItems) {
          missed.skippedMax += fresh.length - index;
          stop = true;
          break;
        }
        collected.push(item);
      }
      if (stop || (!page.next && page.items.length < limit)) break;
      maxId = fresh[fresh.length - 1].key;
    }
    missed.items = collected.reverse();
    return missed;
  }

  /** One page through the instance's gate; a rate limit the answer announces pauses the instance. */
  private async request(
    seam: Seam,
    paging: { limit: number; sinceId?: string; maxId?: string },
  ): Promise<Page> {
    const { registration, instance } = seam.source;
    const instanceUrl = registration.instanceUrl;
    const page = await this.gate.run(instanceUrl, () =>
      this.rest.page({
        base: instance.replaceUrlWeb ?? instanceUrl,
        guard: !instance.replaceUrlWeb && instance.allowPrivateAddress !== true,
        accessToken: registration.accessToken,
        collection: collectionOf(seam.source),
        ...paging,
      }),
    );
    if (page.rateLimitedUntil !== undefined) this.gate.pause(instanceUrl, page.rateLimitedUntil);
    return page;
  }

  private failed(seam: Seam, error: unknown, gap: boolean): void {
    const source = seam.source;
    const id = source.registration.id;
    const label = registrationLabel(source.registration);
    const failure = error instanceof MastodonRestError ? error : undefined;
    if (failure?.failure === 'unauthorized' || failure?.failure === 'forbidden') {
      this.count('refused_token');
      seam.running = false;
      this.letGo(seam);
      const reason: TokenRefusal = failure.failure === 'unauthorized' ? 'revoked' : 'scope';
      for (const listener of this.refusedListeners) listener(id, reason, failure.message);
      return;
    }
    if (failure?.failure === 'rate_limited') {
      this.gate.pause(
        source.registration.instanceUrl,
        failure.retryAt ?? Date.now() + DEFAULT_RATE_LIMIT_WAIT_MS,
      );
      this.count('rate_limited');
    } else {
      this.count('failed');
    }
    clearTimeout(seam.holdTimer);
    seam.holdTimer = undefined;
    if (!gap) seam.floorPending = true;
    if (gap) {
      this.book.hold(id);
      // live events relayed from now on are not relayed again when the catch-up is redone
      seam.seen ??= new Set();
    }
    this.letGo(seam);
    seam.running = false;
    seam.again = false;
    const delay = Math.max(
      reconnectDelay(seam.attempt, this.settings.retryBaseMs, this.settings.retryMaxMs),
      this.gate.pausedFor(source.registration.instanceUrl),
    );
    seam.attempt += 1;
    clearTimeout(seam.retryTimer);
    seam.retryTimer = setTimeout(() => {
      seam.retryTimer = undefined;
      // Stryker disable next-line ConditionalExpression,LogicalOperator: always true here: the timer is cleared when its seam is stopped or replaced, starts running, or the service stops
      if (this.isCurrent(seam) && !seam.running && !this.stopping) this.start(seam);
    }, delay);
    seam.retryTimer.unref();
    this.logger.warn(
      `catch-up for ${label} ${gap ? 'failed' : 'floor not taken'} (${(error as Error)?.message ?? error}); ` +
        `live events go on, retrying in ${delay} ms`,
    );
  }

  /**
   * A catch-up still running stops holding live events back: the cursor stays
   * before its gap until it is fetched, and the ids relayed live meanwhile are
   * remembered so that it does not relay them again.
   */
  private stopHolding(seam: Seam): void {
    this.book.hold(seam.source.registration.id);
    seam.seen ??= new Set();
    this.letGo(seam);
  }

  /** The held live events go to the dispatcher now; the catch-up, when redone, will not relay them again. */
  private letGo(seam: Seam): void {
    const buffer = seam.buffer;
    seam.buffer = undefined;
    if (!buffer || buffer.length === 0) return;
    seam.seen ??= new Set();
    for (const event of buffer) {
      if (event.objectId !== undefined && seam.seen.size < MAX_REMEMBERED_IDS)
        seam.seen.add(event.objectId);
      this.hand(event);
    }
  }

  private finished(seam: Seam): void {
    seam.running = false;
    if (seam.again && !this.stopping) {
      seam.again = false;
      this.start(seam);
      return;
    }
    const id = seam.source.registration.id;
    if (
      !seam.recent &&
      !seam.retryTimer &&
      !seam.seen &&
      // Stryker disable next-line ConditionalExpression: finished() runs only for the current seam
      this.seams.get(id) === seam
    )
      this.seams.delete(id);
  }

  /** The one way an event, live or caught up, reaches the dispatcher (and its registration's "last relayed at"). */
  private hand(event: RelayEvent): void {
    if (event.objectId !== undefined) this.book.dispatched(event.registrationId, event.objectId);
    this.dispatcher.dispatch(event);
    this.recorder.relayed(event.registrationId, event.receivedAt);
  }

  private isCurrent(seam: Seam): boolean {
    return !this.stopping && this.seams.get(seam.source.registration.id) === seam;
  }

  private count(outcome: CatchUpOutcome, by = 1): void {
    if (by > 0) this.outcomes.inc({ outcome }, by);
  }
}

function collectionOf(source: Pick<CatchUpSource, 'endpoint'>): MastodonCollection {
  return source.endpoint === 'direct' ? 'conversations' : 'notifications';
}
