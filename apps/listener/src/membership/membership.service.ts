import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { SETTINGS, Settings } from '@app/config';
import { heartbeatFresh, ListenerNode, ListenerNodeRepository } from '@app/database';
import { MEMBERSHIP_NODES } from './membership-connection.module';
import { Rendezvous, viewFingerprint } from './rendezvous';

/** Rows of nodes silent this many timeouts are deleted: nobody waits for them any more. */
const FORGET_AFTER_TIMEOUTS = 10;

/** What a membership refresh found. */
export interface MembershipChange {
  /** The set of live members differs from the previous pass's: ownership must be re-checked. */
  changed: boolean;
  /** Every live member now publishes this node's view, and did not before: limit shares may grow. */
  agreedNow: boolean;
}

/**
 * This process's place in the listener cluster, kept in the database only
 * (`stream_listener_nodes`): it writes its heartbeat every poll, reads the
 * others', and answers "do I own this registration?" by rendezvous hashing
 * over the live members. A member whose heartbeat is older than
 * LISTENER_NODE_TIMEOUT_MS is dead; a member marked leaving owns nothing.
 *
 * A registration that comes to this node from a member that may still be
 * delivering its events (alive, or leaving and not gone yet) is "handed
 * over": its stream opens at once, but its callbacks wait until that member
 * publishes the same view (it has closed the stream and stored what it held)
 * or is gone, so that per-registration order holds across the move.
 */
@Injectable()
export class MembershipService implements OnApplicationShutdown {
  private readonly logger = new Logger(MembershipService.name);
  readonly nodeId: string;
  private readonly startedAt = Date.now();
  private readonly timeoutMs: number;
  /** The live members as of the last refresh; undefined before the first (nothing is owned then). */
  private current: Rendezvous | undefined;
  /** The members before the last change, to tell where a registration comes from. */
  private previous: Rendezvous | undefined;
  /** The last view every live member published: limit shares never exceed what it grants. */
  private agreed: Rendezvous | undefined;
  private rows = new Map<string, ListenerNode>();
  private lastHeartbeatAt = 0;
  /** The view last acted upon (streams moved, callbacks stored): what heartbeats publish. */
  private publishedView = '';
  private writing: Promise<void> | undefined;
  private stopped = false;
  private leaving = false;
  /** Registrations handed over from a member that may still deliver them: id → that member. */
  private readonly handedFrom = new Map<number, string>();

  constructor(
    @Inject(MEMBERSHIP_NODES) private readonly nodes: ListenerNodeRepository,
    @Inject(SETTINGS) settings: Settings,
  ) {
    this.timeoutMs = settings.listener.nodeTimeoutMs;
    const suffix = randomBytes(4).toString('hex');
    this.nodeId = `${os.hostname().slice(0, 40)}-${process.pid}-${suffix}`;
  }

  /** Live members (this one included) as of the last refresh. */
  get members(): readonly string[] {
    return this.current?.ids ?? [];
  }

  /** Reads every node's row and recomputes the live members. */
  async refresh(now = Date.now()): Promise<MembershipChange> {
    const rows = await this.nodes.findAll();
    this.rows = new Map(rows.map((row) => [row.id, row]));
    const live = rows
      .filter((row) => row.id !== this.nodeId && this.isAlive(row, now) && row.leaving === 0)
      .map((row) => row.id);
    const view = new Rendezvous(this.leaving ? live : [...live, this.nodeId]);
    const changed = view.fingerprint !== this.current?.fingerprint;
    if (changed) {
      // at the first refresh, what this node now owns was the others' before
      this.previous = this.current ?? new Rendezvous(live);
      this.current = view;
      // a lone listener starting is no news at info; a cluster changing is
      // Stryker disable next-line StringLiteral: the wording of a log line
      const line = `listener ${this.nodeId}: ${view.size} live listener(s) ${this.describeChange()}`;
      // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator: chooses the log level only
      if (view.size === 1 && this.previous.size === 0) this.logger.debug(line);
      else this.logger.log(line);
    }
    const wasAgreed = this.agreed === this.current;
    if (this.othersPublish(view.fingerprint, now)) this.agreed = this.current;
    if (rows.some((row) => row.heartbeatAt < now - FORGET_AFTER_TIMEOUTS * this.timeoutMs)) {
      await this.nodes.deleteSilentSince(now - FORGET_AFTER_TIMEOUTS * this.timeoutMs);
    }
    return { changed, agreedNow: !wasAgreed && this.agreed === this.current };
  }

  /** Writes this node's heartbeat with its current view, once a pass has acted on that view. */
  async publish(streamsOpen: number): Promise<void> {
    this.publishedView = this.current?.fingerprint ?? '';
    await this.write(streamsOpen);
  }

  /**
   * The heartbeat between passes (its own timer): a pass that waits long for
   * a callback in flight must not make this node look dead. Skipped while a
   * write is in flight and before the first pass published a view.
   */
  beat(streamsOpen: number): void {
    if (this.writing || this.publishedView === '' || this.stopped) return;
    this.write(streamsOpen).catch((error: Error) =>
      this.logger.warn(`heartbeat not written: ${error.message}`),
    );
  }

  private async write(streamsOpen: number): Promise<void> {
    await this.writing?.catch(() => undefined);
    if (this.stopped) return;
    const now = Date.now();
    const writing = this.nodes.heartbeat({
      id: this.nodeId,
      startedAt: this.startedAt,
      heartbeatAt: now,
      leaving: this.leaving ? 1 : 0,
      view: this.publishedView,
      streamsOpen,
    });
    this.writing = writing;
    try {
      await writing;
      this.lastHeartbeatAt = now;
    } finally {
      if (this.writing === writing) this.writing = undefined;
    }
  }

  owns(registrationId: number): boolean {
    return this.current !== undefined && this.current.ownerOf(registrationId) === this.nodeId;
  }

  /** Whether this node may deliver the callbacks of `registrationId` (owned, and not waiting for a handover). */
  maySend(registrationId: number): boolean {
    return this.owns(registrationId) && !this.handedFrom.has(registrationId);
  }

  /**
   * This node is about to open the stream of `registrationId`: when another
   * live member held it under the previous view, its callbacks wait for that
   * member to let go (see settledHandovers). Returns whether it does.
   */
  takingOver(registrationId: number): boolean {
    const from = this.previous?.ownerOf(registrationId);
    if (from === undefined || from === this.nodeId) return false;
    const row = this.rows.get(from);
    if (!row || !this.isAlive(row, Date.now())) return false;
    this.handedFrom.set(registrationId, from);
    return true;
  }

  /** The stream of `registrationId` is no longer this node's: nothing to wait for. */
  dropped(registrationId: number): void {
    this.handedFrom.delete(registrationId);
  }

  /**
   * Registrations whose previous holder has let go since (it publishes this
   * node's view, or is gone or dead): their callbacks may flow from here once
   * `settle` is called for them (after the retry table was checked).
   */
  settledHandovers(now = Date.now()): number[] {
    const settled: number[] = [];
    const fingerprint = this.current?.fingerprint;
    const done = new Map<string, boolean>();
    for (const [id, from] of this.handedFrom) {
      let isDone = done.get(from);
      // Stryker disable next-line ConditionalExpression: a cache per member; working it out again gives the same answer
      if (isDone === undefined) {
        const row = this.rows.get(from);
        isDone = !row || !this.isAlive(row, now) || (row.leaving === 0 && row.view === fingerprint);
        done.set(from, isDone);
      }
      if (isDone) settled.push(id);
    }
    return settled;
  }

  settle(registrationIds: number[]): void {
    for (const id of registrationIds) this.handedFrom.delete(id);
  }

  /** Registrations whose callbacks wait for a handover. */
  get handoversPending(): number {
    return this.handedFrom.size;
  }

  /**
   * The part of a per-instance `limit` this node may use: an even split over
   * the live members, and while they do not all agree on who is a member,
   * never more than the split they last agreed on (a joining node takes
   * nothing until the others have seen it and cut their own parts).
   * Undefined: no limit; 0: no connection at all for now.
   */
  connectionShare(limit: number | undefined): number | undefined {
    // 0 in instance_map means no limit
    if (limit === undefined || !Number.isFinite(limit) || limit <= 0) return undefined;
    if (!this.current) return 0;
    const now = this.current.shareOf(this.nodeId, limit);
    // Stryker disable next-line ConditionalExpression: when the agreed view is the current one, the smaller below is this same share
    if (this.agreed === this.current) return now;
    return Math.min(now, this.agreed ? this.agreed.shareOf(this.nodeId, limit) : 0);
  }

  /** The part of a per-instance handshake limit: an even split, at least one so every node can open. */
  openingShare(limit: number): number {
    if (!this.current) return limit;
    return Math.max(1, this.current.shareOf(this.nodeId, limit));
  }

  /**
   * Whether this node has been unable to write its heartbeat for so long that
   * the others have surely taken its registrations over (it should let go of
   * them so that each stream is held once again): twice
   * LISTENER_NODE_TIMEOUT_MS. Letting go sooner made every listener of an
   * overloaded cluster, whose database answered late for all of them, close
   * every stream at once (50,000 streams over TLS on 4 listeners); until then
   * a node merely slow holds streams twice at worst, and those duplicates
   * carry the same webhook-id. A node alone never is: nobody would take
   * over, and relaying through a database outage is worth more.
   */
  isCutOff(now = Date.now()): boolean {
    if (!this.current || this.current.size <= 1 || this.lastHeartbeatAt === 0) return false;
    return now - this.lastHeartbeatAt >= 2 * this.timeoutMs;
  }

  /** After letting go of everything: the next refresh starts from scratch. */
  reset(): void {
    this.current = undefined;
    this.previous = undefined;
    this.agreed = undefined;
    this.publishedView = '';
    this.handedFrom.clear();
  }

  /** SIGTERM: from now on this node owns nothing; the others take its registrations at their next pass. */
  async markLeaving(streamsOpen: number): Promise<void> {
    this.leaving = true;
    await this.publish(streamsOpen);
  }

  /**
   * Whether every other live member has run a pass without this node (it
   * publishes the view of the members other than this one): they have
   * opened the streams this node holds. True when there are no others.
   */
  async othersTookOver(now = Date.now()): Promise<boolean> {
    const rows = (await this.nodes.findAll()).filter(
      (row) => row.id !== this.nodeId && this.isAlive(row, now) && row.leaving === 0,
    );
    const without = viewFingerprint(rows.map((row) => row.id).sort());
    return rows.every((row) => row.view === without);
  }

  /** After the dispatcher stored what it held: the others need not wait for this node any more. */
  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await this.writing?.catch(() => undefined);
    try {
      await this.nodes.delete(this.nodeId);
    } catch (error) {
      this.logger.warn(
        `listener ${this.nodeId}: membership row not removed (${(error as Error).message}); it expires after LISTENER_NODE_TIMEOUT_MS`,
      );
    }
  }

  private isAlive(row: ListenerNode, now: number): boolean {
    return heartbeatFresh(row, now, this.timeoutMs);
  }

  /**
   * Whether every other live node publishes `fingerprint`, and none is
   * leaving (a leaving node still holds its streams until it is gone).
   */
  private othersPublish(fingerprint: string, now: number): boolean {
    for (const row of this.rows.values()) {
      if (row.id === this.nodeId || !this.isAlive(row, now)) continue;
      if (row.leaving !== 0 || row.view !== fingerprint) return false;
    }
    return true;
  }

  // Stryker disable all: describes a change for the log line only
  private describeChange(): string {
    const before = new Set(this.previous?.ids ?? []);
    const after = new Set(this.current?.ids ?? []);
    const joined = [...after].filter((id) => !before.has(id));
    const left = [...before].filter((id) => !after.has(id));
    const parts = [];
    if (joined.length > 0) parts.push(`joined: ${joined.join(', ')}`);
    if (left.length > 0) parts.push(`left or silent: ${left.join(', ')}`);
    return parts.length > 0 ? `(${parts.join('; ')})` : '';
  }
  // Stryker restore all
}
