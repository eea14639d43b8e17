import { Logger } from '@nestjs/common';
import type { NewPendingDelivery } from '@app/database';

/** What the writer needs from the database (PendingDeliveryRepository and RegistrationRepository). */
export interface PendingDeliveryStore {
  append(deliveries: NewPendingDelivery[]): Promise<void>;
  findExistingIds(registrationIds: number[]): Promise<number[]>;
}

/** An event on its way into the retry table, with the owner to tell when it is there. */
export interface PendingWrite<Owner> {
  owner: Owner;
  row: NewPendingDelivery;
  /** The Mastodon id of the event, carried for the owner's bookkeeping. */
  objectId?: string;
}

const BATCH = 500;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;

/**
 * Appends events to the retry table in exactly the order they were handed in
 * (one insert at a time, batched under load), so that row ids, which fix the
 * delivery order, follow arrival order per registration. A failed insert is
 * retried in place; rows of registrations deleted meanwhile are dropped
 * (the foreign key would refuse them and block everything behind them).
 */
export class PendingDeliveryWriter<Owner> {
  private readonly logger = new Logger('PendingDeliveryWriter');
  private buffer: PendingWrite<Owner>[] = [];
  private writing = false;
  private scheduled = false;
  private retryTimer?: NodeJS.Timeout;
  private retryDelayMs = FIRST_RETRY_MS;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly store: PendingDeliveryStore,
    /** Called once a row is committed. */
    private readonly written: (write: PendingWrite<Owner>) => void,
    /** Whether a row still wants to be written (its registration was not forgotten meanwhile). */
    private readonly isWanted: (write: PendingWrite<Owner>) => boolean,
    /** Called for a row dropped because the database refuses it for good (it is not retried). */
    private readonly abandoned: (write: PendingWrite<Owner>) => void = () => undefined,
  ) {}

  get backlog(): number {
    return this.buffer.length + (this.writing ? 1 : 0);
  }

  append(writes: PendingWrite<Owner>[]): void {
    if (writes.length === 0) return;
    this.buffer.push(...writes);
    this.schedule();
  }

  /** Drops the not yet started writes of one registration. */
  discard(registrationId: number): void {
    this.buffer = this.buffer.filter((w) => w.row.registrationId !== registrationId);
  }

  /**
   * Writes everything handed in so far (used at shutdown). Resolves with the
   * number of events that could not be written before `deadline`.
   */
  async flush(deadline: number): Promise<number> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    while (this.buffer.length > 0 || this.writing) {
      if (Date.now() >= deadline) break;
      if (this.writing) {
        await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
        continue;
      }
      const ok = await this.writeBatch();
      if (!ok) {
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(this.retryDelayMs, Math.max(deadline - Date.now(), 0))),
        );
      }
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    return this.buffer.length;
  }

  /** Stops retry timers; anything left in the buffer stays unwritten. */
  stop(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.scheduled = true;
  }

  private schedule(): void {
    if (this.scheduled || this.writing || this.retryTimer) return;
    this.scheduled = true;
    // gathers what arrives in the same turn of the event loop into one insert
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    while (this.buffer.length > 0 && !this.writing && !this.retryTimer && !this.scheduled) {
      if (!(await this.writeBatch())) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          void this.run();
        }, this.retryDelayMs);
        this.retryDelayMs = Math.min(this.retryDelayMs * 2, MAX_RETRY_MS);
        return;
      }
    }
  }

  /** One insert of the oldest writes; false when the database refused it for a reason that may pass. */
  private async writeBatch(): Promise<boolean> {
    this.writing = true;
    const batch = this.buffer.splice(0, BATCH).filter(this.isWanted);
    try {
      if (batch.length > 0) await this.store.append(batch.map((w) => w.row));
      for (const write of batch) this.written(write);
      this.retryDelayMs = FIRST_RETRY_MS;
      return true;
    } catch (error) {
      const check = await this.withoutDeletedRegistrations(batch);
      if (check.answered && check.kept.length === batch.length) {
        // the database answers and every registration exists: a row itself is refused (too long for the column, …)
        const rest = await this.writeOneByOne(check.kept);
        this.buffer.unshift(...rest);
        return rest.length === 0;
      }
      this.buffer.unshift(...check.kept);
      if (check.kept.length < batch.length) return true;
      this.logger.error(
        `cannot store ${this.buffer.length} undelivered callback(s) yet, retrying: ${(error as Error).message}`,
      );
      return false;
    } finally {
      this.writing = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /**
   * Drops the writes of registrations deleted meanwhile (the foreign key would
   * refuse them and block everything behind them). `answered` says whether the
   * database could be asked at all.
   */
  private async withoutDeletedRegistrations(
    batch: PendingWrite<Owner>[],
  ): Promise<{ kept: PendingWrite<Owner>[]; answered: boolean }> {
    const ids = [...new Set(batch.map((w) => w.row.registrationId))];
    let existing: Set<number>;
    try {
      existing = new Set(await this.store.findExistingIds(ids));
    } catch {
      return { kept: batch, answered: false };
    }
    const kept = batch.filter((w) => existing.has(w.row.registrationId));
    if (kept.length < batch.length) {
      this.logger.warn(
        `${batch.length - kept.length} undelivered callback(s) dropped: their registration was removed`,
      );
    }
    return { kept, answered: true };
  }

  /**
   * Inserts `writes` one at a time, in order. A row refused while the database
   * still answers is unstorable and dropped (logged) so that it cannot block
   * the queue forever; at the first sign of an outage the rest is returned.
   */
  private async writeOneByOne(writes: PendingWrite<Owner>[]): Promise<PendingWrite<Owner>[]> {
    for (let i = 0; i < writes.length; i++) {
      const write = writes[i];
      try {
        await this.store.append([write.row]);
        this.written(write);
        continue;
      } catch (error) {
        const check = await this.withoutDeletedRegistrations([write]);
        if (!check.answered) return writes.slice(i);
        if (check.kept.length > 0) {
          this.logger.error(
            `registration ${write.row.registrationId}: an undelivered callback cannot be stored and is dropped: ${(error as Error).message}`,
          );
          this.abandoned(write);
        }
      }
    }
    return [];
  }
}
