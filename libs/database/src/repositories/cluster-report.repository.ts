import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { TokenCipher, urlForLog } from '@app/security';
import { PendingDeliveryEntity } from '../entities/pending-delivery.entity';
import { RegistrationEntity } from '../entities/registration.entity';
import { RegistrationKey } from '../registration';
import { batches } from './batches';

/** Which registrations an operator asks about; every field narrows the set. */
export interface RegistrationFilter {
  instanceUrl?: string;
  appId?: string;
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

/**
 * Read-only queries for operators (the admin CLI and the status page): counts
 * and summaries over the whole cluster, straight from the tables.
 */
@Injectable()
export class ClusterReportRepository {
  constructor(
    @InjectRepository(RegistrationEntity) private readonly registrations: Repository<RegistrationEntity>,
    @InjectRepository(PendingDeliveryEntity) private readonly deliveries: Repository<PendingDeliveryEntity>,
  ) {}

  /** Registrations matching `filter`, in id order. */
  async findSummaries(filter: RegistrationFilter = {}): Promise<RegistrationSummary[]> {
    const where: Partial<Record<'instanceUrl' | 'appId', string>> = {};
    if (filter.instanceUrl !== undefined) where.instanceUrl = filter.instanceUrl;
    if (filter.appId !== undefined) where.appId = filter.appId;
    return this.findSummariesWhere(where);
  }

  async findSummaryById(id: number): Promise<RegistrationSummary | undefined> {
    if (!Number.isSafeInteger(id)) return undefined;
    return (await this.findSummariesWhere({ id }))[0];
  }

  async findSummaryByKey(key: RegistrationKey): Promise<RegistrationSummary | undefined> {
    return (await this.findSummariesWhere({ instanceUrl: key.instanceUrl, appId: key.appId, tag: key.tag }))[0];
  }

  async countByInstance(): Promise<CountBy[]> {
    return this.countGrouped('instanceUrl');
  }

  async countByApp(): Promise<CountBy[]> {
    return this.countGrouped('appId');
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
    if (raw.length === 0) return [];
    const heads = new Map<string, PendingDeliveryEntity>();
    for (const batch of batches(raw.map((r) => String(r.headId)))) {
      for (const head of await this.deliveries.find({ where: { id: In(batch) } })) heads.set(String(head.id), head);
    }
    const keys = new Map<number, RegistrationKey>();
    for (const batch of batches(raw.map((r) => Number(r.registrationId)))) {
      const rows = await this.registrations.find({
        select: { id: true, instanceUrl: true, appId: true, tag: true },
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

  private async findSummariesWhere(where: Partial<Pick<RegistrationEntity, 'id' | 'instanceUrl' | 'appId' | 'tag'>>): Promise<RegistrationSummary[]> {
    const rows = await this.registrations.find({
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
      callbackUrl: urlForLog(row.callbackUrl ?? ''),
      endpoint: row.endpoint,
      lastUpdate: Number(row.lastUpdate ?? 0),
      createdAt: row.createdAt,
      tokenSealed: TokenCipher.isSealed(row.accessToken ?? ''),
      pendingDeliveries,
    };
  }

  private async pendingCounts(ids: number[]): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    for (const batch of batches(ids)) {
      const raw = await this.deliveries
        .createQueryBuilder('d')
        .select('d.registrationId', 'registrationId')
        .addSelect('COUNT(*)', 'pending')
        .where({ registrationId: In(batch) })
        .groupBy('d.registrationId')
        .getRawMany<{ registrationId: number | string; pending: number | string }>();
      for (const r of raw) counts.set(Number(r.registrationId), Number(r.pending));
    }
    return counts;
  }

  private async countGrouped(column: 'instanceUrl' | 'appId'): Promise<CountBy[]> {
    const raw = await this.registrations
      .createQueryBuilder('r')
      .select(`r.${column}`, 'key')
      .addSelect('COUNT(*)', 'count')
      .groupBy(`r.${column}`)
      .orderBy(`r.${column}`, 'ASC')
      .getRawMany<{ key: string; count: number | string }>();
    return raw.map((r) => ({ key: r.key, count: Number(r.count) }));
  }
}
