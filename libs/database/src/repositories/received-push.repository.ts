import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, IsNull, LessThan, MoreThan, QueryFailedError, Repository } from 'typeorm';
import { ReceivedPushEntity } from '../entities/received-push.entity';
import { batches } from './batches';
import { retryingDeadlocks } from './deadlock-retry';

/** A received push waiting to be relayed. */
export interface ReceivedPush {
  /** BIGINT, as a string. */
  id: string;
  registrationId: number;
  notificationId: string;
  receivedAt: number;
}

/** Named queries on `stream_listener_received_pushes`. */
@Injectable()
export class ReceivedPushRepository {
  constructor(
    @InjectRepository(ReceivedPushEntity) private readonly rows: Repository<ReceivedPushEntity>,
  ) {}

  /**
   * Stores one push; `replay` when this notification of this registration was
   * stored already (a replayed or resent push: nothing new is stored).
   */
  async store(registrationId: number, notificationId: string, receivedAt: number): Promise<'stored' | 'replay'> {
    try {
      await this.rows.insert({ registrationId, notificationId, receivedAt, relayedAt: null });
      return 'stored';
    } catch (error) {
      // a unique violation, or the database failing: only an existing row makes it a replay
      if (!(error instanceof QueryFailedError)) throw error;
      const existing = await this.rows.exists({ where: { registrationId, notificationId } });
      if (existing) return 'replay';
      throw error;
    }
  }

  /** Pushes not relayed yet with an id above `afterId`, oldest first. */
  async findPendingAfter(afterId: string, limit: number): Promise<ReceivedPush[]> {
    const rows = await this.rows.find({
      where: { id: MoreThan(afterId), relayedAt: IsNull() },
      order: { id: 'ASC' },
      take: limit,
    });
    return rows.map(toPush);
  }

  async markRelayed(ids: string[], at: number): Promise<void> {
    for (const batch of batches(ids))
      await retryingDeadlocks(() => this.rows.update({ id: In(batch) }, { relayedAt: at }));
  }

  /** Deletes the pushes received before `before` (ms); returns how many. */
  async purgeReceivedBefore(before: number): Promise<number> {
    const result = await retryingDeadlocks(() => this.rows.delete({ receivedAt: LessThan(before) }));
    return result.affected ?? 0;
  }

  async deleteByRegistration(registrationId: number): Promise<void> {
    await retryingDeadlocks(() => this.rows.delete({ registrationId }));
  }
}

function toPush(row: ReceivedPushEntity): ReceivedPush {
  return {
    id: String(row.id),
    registrationId: Number(row.registrationId),
    notificationId: row.notificationId,
    receivedAt: Number(row.receivedAt),
  };
}
