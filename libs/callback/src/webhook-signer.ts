import { createHash, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** Headers of one signed attempt (Standard Webhooks). */
export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** A fresh Standard Webhooks message id; generated once per event and kept across retries. */
export function newWebhookId(): string {
  return `msg_${randomUUID().replace(/-/g, '')}`;
}

/**
 * The webhook-id of a Mastodon object relayed to a registration: `msg_` and
 * 32 hex digits of SHA-256 over the registration key, the event and the
 * object's id, so the same object relayed again (a retry, a catch-up that
 * overlaps the stream, a restart, another listener taking over) carries the
 * same id and receivers can deduplicate on it. 128 bits keep collisions out
 * of reach and the id within the retry table's 64 characters.
 */
export function derivedWebhookId(
  key: { instanceUrl: string; appId: string; tag: string },
  event: string,
  objectId: string,
): string {
  // a JSON array keeps the parts apart whatever characters a tag holds
  const digest = createHash('sha256')
    .update(JSON.stringify([key.instanceUrl, key.appId, key.tag, event, objectId]))
    .digest('hex');
  return `msg_${digest.slice(0, 32)}`;
}

const MAX_CACHED_KEYS = 1_000;

/**
 * Signs callback bodies with the app's webhook secret. One `Webhook` per secret
 * is kept, so the hot path does not rebuild the key for every event.
 */
export class WebhookSigner {
  private readonly bySecret = new Map<string, Webhook>();

  /** `timestampMs` is the time of this attempt; the signature changes with it, the id does not. */
  sign(secret: string, webhookId: string, timestampMs: number, body: string): WebhookHeaders {
    const timestamp = new Date(timestampMs);
    return {
      'webhook-id': webhookId,
      'webhook-timestamp': String(Math.floor(timestampMs / 1000)),
      'webhook-signature': this.webhookFor(secret).sign(webhookId, timestamp, body),
    };
  }

  private webhookFor(secret: string): Webhook {
    let webhook = this.bySecret.get(secret);
    // Stryker disable next-line ConditionalExpression: equivalent, the cache saves work only (a new key signs the same)
    if (!webhook) {
      // the key is the secret's UTF-8 bytes: 'raw' with a string would take UTF-16 code units instead
      webhook = new Webhook(Buffer.from(secret, 'utf8'), { format: 'raw' });
      // secrets change only on config reload, so a full cache means churn: start over rather than grow
      // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, when the cache starts over changes no signature
      if (this.bySecret.size >= MAX_CACHED_KEYS) this.bySecret.clear();
      this.bySecret.set(secret, webhook);
    }
    return webhook;
  }
}
