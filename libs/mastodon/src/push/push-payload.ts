import { isMastodonId } from '../rest/mastodon-id';

/** The most of a decrypted payload that is read; Mastodon's is a few hundred bytes. */
const MAX_PAYLOAD_BYTES = 8_192;

export type PushPayload = { ok: true; notificationId: string } | { ok: false; reason: string };

/**
 * Reads `notification_id` from a decrypted Mastodon push (a JSON object with
 * `notification_id`, `notification_type`, `title`, `body`, … and the token,
 * which is never kept). The id is taken from the text, not from the parsed
 * number, so that an id beyond 2^53 is not rounded.
 */
export function parsePushPayload(decrypted: Buffer): PushPayload {
  if (decrypted.length > MAX_PAYLOAD_BYTES) return { ok: false, reason: 'payload too large' };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(decrypted);
  } catch {
    return { ok: false, reason: 'payload is not UTF-8' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'payload is not JSON' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    return { ok: false, reason: 'payload is not a JSON object' };
  const value = (parsed as Record<string, unknown>).notification_id;
  if (typeof value !== 'number' && typeof value !== 'string')
    return { ok: false, reason: 'payload has no notification_id' };
  const matches = [...text.matchAll(/"notification_id"\s*:\s*"?([0-9]+)"?/g)];
  const id = matches.length === 1 ? matches[0][1] : typeof value === 'string' ? value : undefined;
  if (id === undefined || !isMastodonId(id) || !/^[0-9]{1,30}$/.test(id))
    return { ok: false, reason: 'notification_id is not an id' };
  return { ok: true, notificationId: id };
}
