import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { FindOptionsWhere, In, IsNull, Repository } from 'typeorm';
import { TokenCipher, urlForLog } from '@app/security';
import { PendingDeliveryEntity } from '../entities/pending-delivery.entity';
import { RegistrationEntity } from '../entities/registration.entity';
import { ListenerLiveness, listenerLiveness } from '../listener-liveness';
import { RegistrationKey } from '../registration';
import { LIFECYCLE_COLUMNS, REGISTRATION_STATES, RegistrationState } from '../registration-lifecycle';
import { batches } from './batches';
import { ListenerNodeRepository } from './listener-node.repository';

/**
 * What operators see as the state of a row no listener has recorded one for
 * yet (registered while no listener ran, or just now): the column is NULL,
 * no such value is ever stored.
 */
export const STATE_NOT_RECORDED = 'pending';

/** Every state an operator can ask for: the recorded ones, and `pending` for none yet. */
export const REPORTED_STATES = [STATE_NOT_RECORDED, ...REGISTRATION_STATES] as const;
export type ReportedState = (typeof REPORTED_STATES)[number];

/** The states in which a registration's stream is not relaying, and `lastError` says why. */
export const FAILING_STREAM_STATES: readonly RegistrationState[] = ['retrying', 'unauthorized'];

export function isReportedState(value: string): value is ReportedState {
  return (REPORTED_STATES as readonly string[]).includes(value);
}

/** Which registrations an operator asks about; every field narrows the set. */
export interface RegistrationFilter {
  instanceUrl?: string;
  appId?: string;
  state?: ReportedState;
}

/** What an operator may see of a registration: never its token or secret hash. */
export interface RegistrationSummary extends RegistrationKey {
  id: number;
  /** Origin and path only: a query string may carry a receiver's own secret. */
  callbackUrl: string;
  endpoint: string | null;
  /** Last registration or renewal, ms since the epoch. */
  lastUpdate: number;
  createdAt: Date;
  /** Whether the stored token is sealed under a key (false: plain text). */
  tokenSealed: boolean;
  /** Events waiting in the retry table for this registration. */
  pendingDeliveries: number;
  /** The recorded state, or `pending` when no listener recorded one yet. */
  state: string;
  /** When `state` was entered, ms since the epoch; null when not recorded. */
  stateSince: number | null;
  /** The stream's last failure, as the listener recorded it (it never holds a token). */
  lastError: string | null;
  lastRelayedAt: number | null;
  /** The listener that last recorded a state for it. */
  heldBy: string | null;
  endpointInUse: string | null;
  /** Why a `removed` registration ended. */
  removalReason: string | null;
}

/** A registration whose stream is not relaying (see FAILING_STREAM_STATES), with why. */
export interface FailingStream extends RegistrationKey {
  id: number;
  state: string;
  stateSince: number | null;
  lastError: string | null;
  heldBy: string | null;
}

/** One listener as the cluster sees it, from its heartbeat row. */
export interface ListenerReport {
  id: string;
  startedAt: number;
  heartbeatAt: number;
  /** Streams the listener had open at that heartbeat. */
  streamsOpen: number;
  liveness: ListenerLiveness;
}

/** A listener as JSON shows it (admin `stats --json`, the status page's /status.json): times as ISO text. */
export function listenerAsJson(listener: ListenerReport, now: number) {
  return {
    id: listener.id,
    liveness: listener.liveness,
    heartbeatAt: new Date(listener.heartbeatAt).toISOString(),
    heartbeatAgeSeconds: Math.max(0, Math.round((now - listener.heartbeatAt) / 1000)),
    streamsOpen: listener.streamsOpen,
    startedAt: new Date(listener.startedAt).toISOString(),
  };
}

/** The head of one registration's retry queue: why its callback is failing. */
export interface FailingRegistration extends RegistrationKey {
  id: number;
  pendingDeliveries: number;
  /** When the oldest waiting event arrived, ms since the epoch. */
  oldestReceivedAt: number;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: number;
}

export interface RetryQueueReport {
  depth: number;
  registrations: number;
  /** When the oldest waiting event arrived (ms since the epoch); null when the queue is empty. */
  oldestReceivedAt: number | null;
}

export interface CountBy {
  key: string;
  count: number;
}

/** One instance's registrations: how many, and how many in each state (states with none left out). */
export interface InstanceStateCounts {
  instanceUrl: string;
  total: number;
  /** State → count, in the order of REPORTED_STATES. */
  byState: Record<string, number>;
}

/**
 * Read-only queries for operators (the admin CLI and the status page): counts
 * and summaries over the whole cluster, straight from the tables.
 */
@Injectable()
export class ClusterReportRepository {
  constructor(
    @InjectRepository(RegistrationEntity) private readonly registrations: Repository<RegistrationEntity>,
    @InjectRepository(PendingDeliveryEntity) private readonly deliveries: Repository<PendingDeliveryEntity>,
    private readonly nodes: ListenerNodeRepository,
  ) {}

  /** Registrations matching `filter`, in id order. */
  async findSummaries(filter: RegistrationFilter = {}): Promise<RegistrationSummary[]> {
    const where: FindOptionsWhere<RegistrationEntity> = {};
    if (filter.instanceUrl !== undefined) where.instanceUrl = filter.instanceUrl;
    if (filter.appId !== undefined) where.appId = filter.appId;
    if (filter.state !== undefined) where.state = filter.state === STATE_NOT_RECORDED ? IsNull() : filter.state;
    return this.findSummariesWhere(where);
  }

  async findSummaryById(id: number): Promise<RegistrationSummary | undefined> {
    if (!Number.isSafeInteger(id)) return undefined;
    return (await this.findSummariesWhere({ id }))[0];
  }

  async findSummaryByKey(key: RegistrationKey): Promise<RegistrationSummary | undefined> {
    return (await this.findSummariesWhere({ instanceUrl: key.instanceUrl, appId: key.appId, tag: key.tag }))[0];
  }

  async countByApp(): Promise<CountBy[]> {
    const counts = await this.countGrouped(['appId']);
    // Stryker disable next-line StringLiteral: appId is NOT NULL, a group never lacks one
    return counts.map((r) => ({ key: r.appId ?? '', count: r.count })).sort((a, b) => compareText(a.key, b.key));
  }

  /** Registrations per state, in the order of REPORTED_STATES (states with none left out). */
  async countByState(): Promise<CountBy[]> {
    const counts = (await this.countGrouped(['state'])).map((r) => ({ key: reportedState(r.state), count: r.count }));
    return counts.sort((a, b) => stateOrder(a.key) - stateOrder(b.key));
  }

  /** Registrations per instance (in instance order) and, within each, per state. */
  async countByInstanceAndState(): Promise<InstanceStateCounts[]> {
    const counts = (await this.countGrouped(['instanceUrl', 'state']))
      // Stryker disable next-line StringLiteral: instanceUrl is NOT NULL, a group never lacks one
      .map((r) => ({ instanceUrl: r.instanceUrl ?? '', state: reportedState(r.state), count: r.count }))
      .sort((a, b) => compareText(a.instanceUrl, b.instanceUrl) || stateOrder(a.state) - stateOrder(b.state));
    const instances = new Map<string, InstanceStateCounts>();
    for (const { instanceUrl, state, count } of counts) {
      let instance = instances.get(instanceUrl);
      if (!instance) instances.set(instanceUrl, (instance = { instanceUrl, total: 0, byState: {} }));
      instance.total += count;
      instance.byState[state] = count;
    }
    return [...instances.values()];
  }

  /**
   * Removed registrations still kept, by why they ended. Rows removed through
   * /unregister or the admin CLI are deleted at once and not counted here.
   */
  async countRemovedByReason(): Promise<CountBy[]> {
    const raw = await this.registrations
      .createQueryBuilder('r')
      .select('r.removalReason', 'reason')
      .addSelect('COUNT(*)', 'count')
      .where({ state: 'removed' })
      .groupBy('r.removalReason')
      .getRawMany<{ reason: string | null; count: number | string }>();
    return raw
      .map((r) => ({ key: r.reason ?? 'unknown', count: Number(r.count) }))
      .sort((a, b) => compareText(a.key, b.key));
  }

  /** Registrations whose stream is not relaying (retrying, unauthorized), longest in that state first. */
  async findFailingStreams(limit: number): Promise<FailingStream[]> {
    const rows = await this.registrations.find({
      // Stryker disable next-line ObjectLiteral: every column read maps to the same fields (only more is read)
      select: { id: true, instanceUrl: true, appId: true, tag: true, state: true, stateSince: true, lastError: true, heldBy: true },
      where: { state: In([...FAILING_STREAM_STATES]) },
      order: { stateSince: 'ASC', id: 'ASC' },
      take: limit,
    });
    return rows.map((row) => ({
      id: row.id,
      instanceUrl: row.instanceUrl,
      appId: row.appId,
      tag: row.tag,
      state: reportedState(row.state),
      stateSince: row.stateSince,
      lastError: row.lastError,
      heldBy: row.heldBy,
    }));
  }

  /**
   * Every listener with a heartbeat row, by id, judged as the membership
   * judges them (`timeoutMs` is LISTENER_NODE_TIMEOUT_MS). Rows of listeners
   * long dead are deleted by the live ones, so `dead` ones show for a while only.
   */
  async findListeners(now: number, timeoutMs: number): Promise<ListenerReport[]> {
    const rows = await this.nodes.findAll();
    return rows
      .map((row) => ({
        id: row.id,
        startedAt: row.startedAt,
        heartbeatAt: row.heartbeatAt,
        streamsOpen: row.streamsOpen,
        liveness: listenerLiveness(row, now, timeoutMs),
      }))
      .sort((a, b) => compareText(a.id, b.id));
  }

  async countRegistrations(): Promise<number> {
    return this.registrations.count();
  }

  async retryQueue(): Promise<RetryQueueReport> {
    const raw = await this.deliveries
      .createQueryBuilder('d')
      .select('COUNT(*)', 'depth')
      .addSelect('COUNT(DISTINCT d.registrationId)', 'registrations')
      .addSelect('MIN(d.receivedAt)', 'oldest')
      .getRawOne<{ depth: string | number; registrations: string | number; oldest: string | number | null }>();
    return {
      depth: Number(raw?.depth ?? 0),
      registrations: Number(raw?.registrations ?? 0),
      oldestReceivedAt: raw?.oldest === null || raw?.oldest === undefined ? null : Number(raw.oldest),
    };
  }

  /** Registrations whose callback is failing (events waiting to be retried), oldest backlog first. */
  async findFailing(limit: number): Promise<FailingRegistration[]> {
    const raw = await this.deliveries
      .createQueryBuilder('d')
      .select('d.registrationId', 'registrationId')
      .addSelect('COUNT(*)', 'pending')
      .addSelect('MIN(d.receivedAt)', 'oldest')
      .addSelect('MIN(d.id)', 'headId')
      .groupBy('d.registrationId')
      .orderBy('MIN(d.receivedAt)', 'ASC')
      .limit(limit)
      .getRawMany<{ registrationId: number | string; pending: number | string; oldest: number | string; headId: string }>();
    // Stryker disable next-line ConditionalExpression: an empty backlog finds no heads and no keys either: the same [] after two queries
    if (raw.length === 0) return [];
    const heads = new Map<string, PendingDeliveryEntity>();
    for (const batch of batches(raw.map((r) => String(r.headId)))) {
      // Stryker disable next-line ObjectLiteral: reading every queued row finds the same heads (only more is read)
      for (const head of await this.deliveries.find({ where: { id: In(batch) } })) heads.set(String(head.id), head);
    }
    const keys = new Map<number, RegistrationKey>();
    for (const batch of batches(raw.map((r) => Number(r.registrationId)))) {
      // Stryker disable next-line ObjectLiteral: reading every registration finds the same keys (only more is read)
      const rows = await this.registrations.find({
        // Stryker disable next-line ObjectLiteral: every column read gives the same keys (only more is read)
        select: { id: true, instanceUrl: true, appId: true, tag: true },
        // Stryker disable next-line ObjectLiteral: reading every registration finds the same keys (only more is read)
        where: { id: In(batch) },
      });
      for (const row of rows) keys.set(row.id, { instanceUrl: row.instanceUrl, appId: row.appId, tag: row.tag });
    }
    const failing: FailingRegistration[] = [];
    for (const r of raw) {
      const id = Number(r.registrationId);
      const key = keys.get(id);
      const head = heads.get(String(r.headId));
      if (!key || !head) continue; // removed between the two reads
      failing.push({
        id,
        ...key,
        pendingDeliveries: Number(r.pending),
        oldestReceivedAt: Number(r.oldest),
        attempts: head.attempts,
        lastError: head.lastError,
        nextAttemptAt: head.nextAttemptAt,
      });
    }
    return failing;
  }

  private async findSummariesWhere(where: FindOptionsWhere<RegistrationEntity>): Promise<RegistrationSummary[]> {
    const rows = await this.registrations.find({
      // Stryker disable next-line ObjectLiteral: every column read maps to the same summary (only more is read)
      select: {
        id: true,
        instanceUrl: true,
        appId: true,
        tag: true,
        callbackUrl: true,
        endpoint: true,
        lastUpdate: true,
        createdAt: true,
        accessToken: true,
        ...LIFECYCLE_COLUMNS,
      },
      where,
      order: { id: 'ASC' },
    });
    const pending = await this.pendingCounts(rows.map((r) => r.id));
    return rows.map((row) => this.toSummary(row, pending.get(row.id) ?? 0));
  }

  private toSummary(row: RegistrationEntity, pendingDeliveries: number): RegistrationSummary {
    return {
      id: row.id,
      instanceUrl: row.instanceUrl,
      appId: row.appId,
      tag: row.tag,
      // Stryker disable next-line StringLiteral: callbackUrl is NOT NULL and read, never missing
      callbackUrl: urlForLog(row.callbackUrl ?? ''),
      endpoint: row.endpoint,
      lastUpdate: Number(row.lastUpdate ?? 0),
      createdAt: row.createdAt,
      // Stryker disable next-line StringLiteral: accessToken is NOT NULL and read, never missing
      tokenSealed: TokenCipher.isSealed(row.accessToken ?? ''),
      pendingDeliveries,
      state: reportedState(row.state),
      stateSince: row.stateSince,
      lastError: row.lastError,
      lastRelayedAt: row.lastRelayedAt,
      heldBy: row.heldBy,
      endpointInUse: row.endpointInUse,
      removalReason: row.removalReason,
    };
  }

  private async pendingCounts(ids: number[]): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    for (const batch of batches(ids)) {
      const raw = await this.deliveries
        .createQueryBuilder('d')
        .select('d.registrationId', 'registrationId')
        .addSelect('COUNT(*)', 'pending')
        // Stryker disable next-line ObjectLiteral: counting for every registration gives the same counts for these (only more is counted)
        .where({ registrationId: In(batch) })
        .groupBy('d.registrationId')
        .getRawMany<{ registrationId: number | string; pending: number | string }>();
      for (const r of raw) counts.set(Number(r.registrationId), Number(r.pending));
    }
    return counts;
  }

  /** Registration counts grouped by `columns`, unsorted: the callers sort (collations differ between dialects). */
  private async countGrouped<C extends 'instanceUrl' | 'appId' | 'state'>(
    columns: C[],
  ): Promise<(Record<C, string | null> & { count: number })[]> {
    let query = this.registrations.createQueryBuilder('r').select('COUNT(*)', 'count');
    for (const column of columns) query = query.addSelect(`r.${column}`, column).addGroupBy(`r.${column}`);
    const raw = await query.getRawMany<Record<C, string | null> & { count: number | string }>();
    return raw.map((r) => ({ ...r, count: Number(r.count) }));
  }
}

/** A stored state as operators see it: NULL (never recorded) reads as `pending`. */
function reportedState(stored: string | null): string {
  return stored ?? STATE_NOT_RECORDED;
}

/** Position in REPORTED_STATES; a value this version does not know sorts last. */
function stateOrder(state: string): number {
  const index = (REPORTED_STATES as readonly string[]).indexOf(state);
  return index === -1 ? REPORTED_STATES.length : index;
}

/** The same order on every dialect (a database's collation may differ, `_` and case included). */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
