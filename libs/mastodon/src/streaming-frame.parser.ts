/**
 * Frames on Mastodon's streaming API are JSON objects `{"stream": [...],
 * "event": "...", "payload": ...}` where `payload` is itself a JSON string for
 * most events. Only the outer object is parsed here: the payload is handed on
 * exactly as received.
 */
export type StreamingFrame =
  | { ok: true; event: string; payload: unknown }
  /**
   * Mastodon's report of a failure on an open socket, `{"error": "…", "status": 401}`
   * (a token without the needed scope gets one right after the upgrade).
   */
  | { ok: 'error'; status: number; error: string }
  | { ok: false; reason: 'binary' | 'not_json' | 'not_object' | 'no_event' };

/** Error frames' messages are cut to this length (they end up in logs and in /status). */
const MAX_ERROR_LENGTH = 300;

/** Events Mastodon (and its forks) send that this project recognises. */
export const KNOWN_STREAMING_EVENTS = [
  'notification',
  'conversation',
  'update',
  'delete',
  'status.update',
  'filters_changed',
  'announcement',
  'announcement.reaction',
  'announcement.delete',
  'encrypted_message',
  'notifications_merged',
] as const;
export type KnownStreamingEvent = (typeof KNOWN_STREAMING_EVENTS)[number];

const KNOWN = new Set<string>(KNOWN_STREAMING_EVENTS);
const MAX_EVENT_NAME_LENGTH = 64;

export function isKnownStreamingEvent(event: string): event is KnownStreamingEvent {
  return KNOWN.has(event);
}

/** Parses one WebSocket message; never throws. */
export function parseStreamingFrame(data: Buffer | string, isBinary: boolean): StreamingFrame {
  if (isBinary) return { ok: false, reason: 'binary' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    return { ok: false, reason: 'not_json' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    return { ok: false, reason: 'not_object' };
  const { event, payload, error, status } = parsed as {
    event?: unknown;
    payload?: unknown;
    error?: unknown;
    status?: unknown;
  };
  if (
    event === undefined &&
    typeof error === 'string' &&
    typeof status === 'number' &&
    Number.isInteger(status) &&
    status >= 100 &&
    status <= 599
  ) {
    return { ok: 'error', status, error: error.slice(0, MAX_ERROR_LENGTH) };
  }
  if (typeof event !== 'string' || event.length === 0 || event.length > MAX_EVENT_NAME_LENGTH) {
    return { ok: false, reason: 'no_event' };
  }
  return { ok: true, event, payload };
}

/**
 * A short, printable excerpt of a frame for a log line. `secret` (the stream's
 * access token) is removed before cutting, so no prefix of it can survive.
 */
export function frameExcerpt(
  data: Buffer | string,
  isBinary: boolean,
  secret?: string,
  maxLength = 40,
): string {
  if (isBinary) return `[binary, ${data.length} bytes]`;
  const length = data.length;
  const window = maxLength + (secret ? secret.length : 0);
  let text =
    // Stryker disable next-line MethodExpression: bounds the work on a large frame; a secret starting inside the excerpt fits the window either way
    typeof data === 'string' ? data.slice(0, window) : data.subarray(0, window).toString('utf8');
  if (secret) text = text.split(secret).join('[redacted]');
  text = text.slice(0, maxLength).replace(/[^\x20-\x7e]/g, '?');
  return length > maxLength ? `${text}… (${length} bytes)` : text;
}
