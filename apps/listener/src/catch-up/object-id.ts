import { isMastodonId } from '@app/mastodon';

/** Mastodon writes `id` first in a notification: read it without parsing 1–5 KB of JSON per event. */
const LEADING_ID = /^\s*\{\s*"id"\s*:\s*"([^"\\]{1,64})"/;

/** The object a payload is (text is parsed first); null passes, as a field of it reads undefined too. */
function parsed(payload: unknown): Record<string, unknown> | null | undefined {
  let value = payload;
  if (typeof payload === 'string') {
    try {
      value = JSON.parse(payload);
    } catch {
      // text that is no JSON stays a string, which is no object either
    }
  }
  return typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown> | null)
    : undefined;
}

/**
 * The id a streamed event is known by in the REST API, which the cursor and
 * the derived webhook-id go by: a notification's `id`, a conversation's
 * `last_status.id`. Undefined when the payload has none (the event is still
 * relayed, with a random webhook-id, and does not move the cursor).
 */
export function objectIdOf(event: string, payload: unknown): string | undefined {
  if (event === 'notification') {
    if (typeof payload === 'string') {
      const leading = LEADING_ID.exec(payload.slice(0, 100))?.[1];
      if (isMastodonId(leading)) return leading;
    }
    const id = parsed(payload)?.id;
    return isMastodonId(id) ? id : undefined;
  }
  if (event === 'conversation') {
    const status = parsed(payload)?.last_status;
    const id =
      status !== null && typeof status === 'object' ? (status as { id?: unknown }).id : undefined;
    return isMastodonId(id) ? id : undefined;
  }
  return undefined;
}
