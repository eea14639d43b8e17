import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { SETTINGS, Settings } from '@app/config';
import { PushSubscriptionRepository, ReceivedPushRepository } from '@app/database';
import {
  decryptPush,
  isPushId,
  parsePushPayload,
  PushDecryptionError,
  verifyVapid,
} from '@app/mastodon';
import { MetricsService } from '@app/observability';
import { describeDatabaseError } from '../http/database-errors';

/** What came with a push, as the route read it. */
export interface IncomingPush {
  pushId: string;
  body: Buffer;
  headers: {
    authorization?: string;
    contentEncoding?: string;
    cryptoKey?: string;
    encryption?: string;
  };
}

/** The answer to the instance. Mastodon drops a subscription on any 4xx but 408 and 429, so each one is chosen. */
export interface PushAnswer {
  status: 201 | 400 | 403 | 404 | 410 | 503;
  message: string;
  /** Seconds, for a 503. */
  retryAfter?: number;
}

export type PushOutcome =
  | 'stored'
  | 'replay'
  | 'unknown'
  | 'gone'
  | 'not_ready'
  | 'bad_vapid'
  | 'undecryptable'
  | 'bad_payload'
  | 'database_down';

/**
 * POST /push/<id>: a Web Push from an instance. The subscription is found by
 * its unguessable id, the VAPID token checked against the instance's
 * server_key, the body decrypted with the subscription's keys, and the
 * notification id stored for the listener; only then is the answer 201.
 * Nothing of the push (headers, body, payload: the payload carries the
 * user's token) is ever logged.
 */
@Injectable()
export class PushReceiverService {
  private readonly logger = new Logger(PushReceiverService.name);
  private readonly outcomes: Counter<'outcome'>;
  private readonly audience: string | undefined;

  constructor(
    private readonly subscriptions: PushSubscriptionRepository,
    private readonly pushes: ReceivedPushRepository,
    metrics: MetricsService,
    @Inject(SETTINGS) settings: Settings,
  ) {
    const publicUrl = settings.webPush.publicUrl;
    // VAPID's audience is the origin of the push endpoint (RFC 8292)
    this.audience = publicUrl ? new URL(publicUrl).origin : undefined;
    this.outcomes = metrics.counter(
      'msl_push_received_total',
      'Web Pushes received from instances, by outcome (stored, replay, unknown, gone, not_ready, bad_vapid, undecryptable, bad_payload, database_down)',
      ['outcome'],
    );
  }

  async receive(push: IncomingPush): Promise<PushAnswer> {
    if (!this.audience || !isPushId(push.pushId)) return this.done('unknown', 404, 'no such subscription');
    let target;
    try {
      target = await this.subscriptions.findTarget(push.pushId);
    } catch (error) {
      return this.databaseDown(error);
    }
    if (!target) return this.done('unknown', 404, 'no such subscription');
    const label = `registration ${target.registrationId}`;
    // 410 tells the instance to delete its subscription: the registration ended or left Web Push
    if (!target.registrationLive || target.state === 'refused')
      return this.done('gone', 410, 'this subscription has ended');
    if (!target.serverKey) {
      // the instance pushed before its subscription answer was stored: it retries a 5xx
      return { ...this.done('not_ready', 503, 'subscription not ready'), retryAfter: 5 };
    }
    const vapid = verifyVapid({
      authorization: push.headers.authorization,
      cryptoKey: push.headers.cryptoKey,
      audience: this.audience,
      serverKey: target.serverKey,
      nowSeconds: Math.floor(Date.now() / 1000),
    });
    if (!vapid.ok) {
      this.logger.warn(`push for ${label} refused: ${vapid.reason}`);
      return this.done('bad_vapid', 403, 'VAPID credentials refused');
    }
    let decrypted: Buffer;
    try {
      decrypted = decryptPush(
        {
          body: push.body,
          contentEncoding: push.headers.contentEncoding,
          cryptoKey: push.headers.cryptoKey,
          encryption: push.headers.encryption,
        },
        target,
      );
    } catch (error) {
      const reason = error instanceof PushDecryptionError ? error.message : 'not decryptable';
      this.logger.warn(`push for ${label} refused: ${reason}`);
      return this.done('undecryptable', 400, 'push not decryptable');
    }
    const payload = parsePushPayload(decrypted);
    decrypted.fill(0);
    if (!payload.ok) {
      this.logger.warn(`push for ${label} refused: ${payload.reason}`);
      return this.done('bad_payload', 400, 'push payload not usable');
    }
    let stored: 'stored' | 'replay';
    try {
      stored = await this.pushes.store(target.registrationId, payload.notificationId, Date.now());
    } catch (error) {
      return this.databaseDown(error);
    }
    if (stored === 'replay') this.logger.debug(`push for ${label}: notification already received`);
    // a replay is answered like the first push: it is stored, only not twice
    return this.done(stored, 201, 'stored');
  }

  private databaseDown(error: unknown): PushAnswer {
    this.logger.error(`push not stored: database unavailable (${describeDatabaseError(error)})`);
    return { ...this.done('database_down', 503, 'database unavailable'), retryAfter: 10 };
  }

  private done(outcome: PushOutcome, status: PushAnswer['status'], message: string): PushAnswer {
    this.outcomes.inc({ outcome });
    return { status, message };
  }
}
