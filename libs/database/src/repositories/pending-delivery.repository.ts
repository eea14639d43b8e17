import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, MoreThan, Repository } from 'typeorm';
import { PendingDeliveryEntity } from '../entities/pending-delivery.entity';
import { batches } from './batches';

export type NewPendingDelivery = Omit<PendingDeliveryEntity, 'id' | 'lastError'> & { lastError?: string | null };

/** Rows per INSERT: nine bound parameters each stay under SQL Server's 2,100 per statement. */
const INSERT_BATCH = 200;

/** Named queries on the durable callback retry queue. */
@Injectable()
export class PendingDeliveryRepository {
  constructor(@InjectRepository(PendingDeliveryEntity) private readonly rows: Repository<PendingDeliveryEntity>) {}

  /** Appends events in the given order (ids grow with insertion, which fixes delivery order). */
  async append(deliveries: NewPendingDelivery[]): Promise<void> {
    for (const batch of batches(deliveries, INSERT_BATCH)) await this.rows.insert(batch);
  }

  /** The oldest waiting event of each registration, when it is due: the only ones that may be attempted. */
  async findDueHeads(now: number, limit: number): Promise<PendingDeliveryEntity[]> {
    return this.rows
      .createQueryBuilder('d')
      .where((qb) => {
        const heads = qb
          .subQuery()
          .select('MIN(h.id)')
          .from(PendingDeliveryEntity, 'h')
          .groupBy('h.registrationId')
          .getQuery();
        return `d.id IN ${heads}`;
      })
      .andWhere('d.nextAttemptAt <= :now', { now })
      .orderBy('d.nextAttemptAt', 'ASC')
      .take(limit)
      .getMany();
  }

  async findHead(registrationId: number): Promise<PendingDeliveryEntity | undefined> {
    const row = await this.rows.findOne({ where: { registrationId }, order: { id: 'ASC' } });
    return row ?? undefined;
  }

  /** The oldest `limit` waiting events of one registration, in delivery (id) order. */
  async findFirst(registrationId: number, limit: number): Promise<PendingDeliveryEntity[]> {
    return this.rows.find({ where: { registrationId }, order: { id: 'ASC' }, take: limit });
  }

  async registrationIdsWithPending(): Promise<number[]> {
    const rows = await this.rows
      .createQueryBuilder('d')
      .select('d.registrationId', 'registrationId')
      .distinct(true)
      .getRawMany<{ registrationId: number | string }>();
    return rows.map((r) => Number(r.registrationId));
  }

  async countForRegistration(registrationId: number): Promise<number> {
    return this.rows.count({ where: { registrationId } });
  }

  async recordFailure(id: string, attempts: number, nextAttemptAt: number, lastError: string): Promise<void> {
    await this.rows.update({ id }, { attempts, nextAttemptAt, lastError: lastError.slice(0, 255) });
  }

  /** Rows of `registrationIds` waiting past `now` become due at `now` (their host answers again: no backoff to wait out). */
  async makeDue(registrationIds: number[], now: number): Promise<void> {
    for (const batch of batches(registrationIds)) {
      await this.rows.update({ registrationId: In(batch), nextAttemptAt: MoreThan(now) }, { nextAttemptAt: now });
    }
  }

  async delete(ids: string[]): Promise<void> {
    for (const batch of batches(ids)) await this.rows.delete({ id: In(batch) });
  }

  async deleteForRegistrations(registrationIds: number[]): Promise<void> {
    for (const batch of batches(registrationIds)) await this.rows.delete({ registrationId: In(batch) });
  }

  async count(): Promise<number> {
    return this.rows.count();
  }
}
