import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, MoreThan, Repository } from 'typeorm';
import { SETTINGS, Settings } from '@app/config';
import { TokenCipher } from '@app/security';
import { PushSubscriptionEntity } from '../entities/push-subscription.entity';
import { RegistrationEntity } from '../entities/registration.entity';
import {
  PUSH_SUBSCRIPTION_STATES,
  PushSubscription,
  PushSubscriptionState,
  PushTarget,
} from '../push-subscription';
import { batches } from './batches';
import { retryingDeadlocks } from './deadlock-retry';

/** The columns of a subscription sealed under TOKEN_ENCRYPTION_KEY. */
export type SealedPushKey = 'privateKey' | 'authSecret';

/**
 * Named queries on `stream_listener_push_subscriptions`. The private key and
 * the auth secret are sealed here (like access tokens, under
 * TOKEN_ENCRYPTION_KEY when it is set) and opened nowhere else.
 */
@Injectable()
export class PushSubscriptionRepository {
  private readonly logger = new Logger(PushSubscriptionRepository.name);
  private readonly cipher: TokenCipher;

  constructor(
    @InjectRepository(PushSubscriptionEntity)
    private readonly rows: Repository<PushSubscriptionEntity>,
    @Inject(SETTINGS) settings: Settings,
  ) {
    this.cipher = new TokenCipher(settings.tokenEncryptionKey);
  }

  /** Writes the whole subscription of its registration (one listener owns a registration: no race). */
  async save(subscription: PushSubscription): Promise<void> {
    const row: PushSubscriptionEntity = {
      ...subscription,
      privateKey: this.cipher.seal(subscription.privateKey),
      authSecret: this.cipher.seal(subscription.authSecret),
    };
    await retryingDeadlocks(async () => {
      const { registrationId, ...rest } = row;
      const updated = await this.rows.update({ registrationId }, rest);
      if (!updated.affected) await this.rows.insert(row);
    });
  }

  /** The sealed `column` of each subscription after `afterRegistrationId`, in order (for re-sealing under a new key). */
  async findSealedKeysAfter(
    column: SealedPushKey,
    afterRegistrationId: number,
    limit: number,
  ): Promise<{ id: number; stored: string }[]> {
    const rows = await this.rows.find({
      // Stryker disable next-line ObjectLiteral: reading every column returns the same ids and values, only more bytes
      select: { registrationId: true, [column]: true },
      where: { registrationId: MoreThan(afterRegistrationId) },
      order: { registrationId: 'ASC' },
      take: limit,
    });
    return rows.map((row) => ({ id: row.registrationId, stored: row[column] }));
  }

  /** Replaces the sealed `column` only if it still holds `expected` (a subscription replaced meanwhile is left as it is). */
  async replaceSealedKey(column: SealedPushKey, registrationId: number, expected: string, stored: string): Promise<boolean> {
    const result = await this.rows.update({ registrationId, [column]: expected }, { [column]: stored });
    return (result.affected ?? 0) > 0;
  }

  /** Records the subscription's state; `serverKey` and `lastError` are written only when given. */
  async updateState(
    registrationId: number,
    state: PushSubscriptionState,
    details: { serverKey?: string; lastError?: string | null } = {},
  ): Promise<void> {
    const change: Partial<PushSubscriptionEntity> = { state, updatedAt: Date.now() };
    if (details.serverKey !== undefined) change.serverKey = details.serverKey;
    if (details.lastError !== undefined) change.lastError = details.lastError?.slice(0, 500) ?? null;
    await retryingDeadlocks(() => this.rows.update({ registrationId }, change));
  }

  async findByRegistration(registrationId: number): Promise<PushSubscription | undefined> {
    const row = await this.rows.findOne({ where: { registrationId } });
    return row ? this.open(row) : undefined;
  }

  /** The subscriptions of `ids` that exist, by registration id. */
  async findByRegistrations(ids: number[]): Promise<Map<number, PushSubscription>> {
    const found = new Map<number, PushSubscription>();
    for (const batch of batches(ids)) {
      for (const row of await this.rows.find({ where: { registrationId: In(batch) } })) {
        const subscription = this.open(row);
        if (subscription) found.set(row.registrationId, subscription);
      }
    }
    return found;
  }

  /** The subscription whose endpoint ends in `pushId`, with whether its registration is still live. */
  async findTarget(pushId: string): Promise<PushTarget | undefined> {
    const row = await this.rows.findOne({ where: { pushId } });
    const subscription = row ? this.open(row) : undefined;
    if (!subscription) return undefined;
    const registration = await this.rows.manager.findOne(RegistrationEntity, {
      // Stryker disable next-line ObjectLiteral: reading every column gives the same id and state, only more bytes
      select: { id: true, state: true },
      where: { id: subscription.registrationId },
    });
    return { ...subscription, registrationLive: registration !== null && registration.state !== 'removed' };
  }

  async deleteByRegistration(registrationId: number): Promise<void> {
    await retryingDeadlocks(() => this.rows.delete({ registrationId }));
  }

  /** Deletes the subscriptions whose registration row is gone (unregistered while no listener held it); returns how many. */
  async deleteOrphans(): Promise<number> {
    const orphans = await this.rows
      .createQueryBuilder('s')
      .leftJoin(RegistrationEntity, 'r', 'r.id = s.registrationId')
      .select('s.registrationId', 'registrationId')
      .where('r.id IS NULL')
      .getRawMany<{ registrationId: number | string }>();
    const ids = orphans.map((row) => Number(row.registrationId));
    for (const batch of batches(ids))
      await retryingDeadlocks(() => this.rows.delete({ registrationId: In(batch) }));
    return ids.length;
  }

  /** A row whose keys cannot be opened (sealed under another key) is logged by registration and skipped. */
  private open(row: PushSubscriptionEntity): PushSubscription | undefined {
    const state = (PUSH_SUBSCRIPTION_STATES as readonly string[]).includes(row.state)
      ? (row.state as PushSubscriptionState)
      : undefined;
    if (!state) {
      this.logger.warn(`push subscription of registration ${row.registrationId}: unknown state skipped`);
      return undefined;
    }
    try {
      return {
        registrationId: Number(row.registrationId),
        pushId: row.pushId,
        publicKey: row.publicKey,
        privateKey: this.cipher.open(row.privateKey),
        authSecret: this.cipher.open(row.authSecret),
        serverKey: row.serverKey,
        state,
        tokenHash: row.tokenHash,
        lastError: row.lastError,
        updatedAt: Number(row.updatedAt),
      };
      // Stryker disable next-line BlockStatement: only the log line goes; the row is skipped (undefined) either way
    } catch (error) {
      this.logger.error(
        `push subscription of registration ${row.registrationId}: keys unreadable: ${(error as Error).message}`,
      );
      return undefined;
    }
  }
}
