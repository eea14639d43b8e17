import { isMastodonId } from './mastodon-id';

/** The two collections a catch-up reads. */
export type MastodonCollection = 'notifications' | 'conversations';

/** Mastodon's largest page. */
export const MAX_PAGE_LIMIT = 80;

/** One object of a page, with its raw JSON text exactly as the server sent it. */
export interface MastodonItem {
  /**
   * The id the cursor and the paging go by: a notification's `id`, a
   * conversation's `last_status.id` (Mastodon pages conversations by it).
   */
  key: string;
  /** When the object was made (a conversation: its last status), ms since the epoch; undefined if not stated. */
  createdAt: number | undefined;
  /** The element's JSON text as received: relayed as the callback's payload, byte for byte. */
  json: string;
}

/** Paging parameters a Link header pointed at. */
export interface PageParams {
  maxId?: string;
  minId?: string;
  sinceId?: string;
}

/** Why an answer was not a usable page. */
export class MastodonAnswerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MastodonAnswerError';
  }
}

/**
 * Splits the text of a JSON array into the exact texts of its elements,
 * without re-serialising them (a parsed and re-stringified object would not
 * be byte-identical: escapes such as `\u00e9` or `\/` would change).
 * Returns undefined when `text` is not one JSON array of values.
 */
export function splitJsonArray(text: string): string[] | undefined {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== 0x5b /* [ */) return undefined;
  i = skipSpace(text, i + 1);
  const elements: string[] = [];
  if (text.charCodeAt(i) === 0x5d /* ] */)
    return skipSpace(text, i + 1) === text.length ? elements : undefined;
  for (;;) {
    const start = i;
    let depth = 0;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x22 /* " */) {
        i += 1;
        while (i < text.length && text.charCodeAt(i) !== 0x22)
          i += text.charCodeAt(i) === 0x5c ? 2 : 1;
        if (i >= text.length) return undefined;
      } else if (c === 0x7b || c === 0x5b) depth += 1;
      else if (c === 0x7d || c === 0x5d) {
        if (depth === 0) break;
        depth -= 1;
      } else if (c === 0x2c /* , */ && depth === 0) break;
    }
    if (i >= text.length) return undefined;
    elements.push(text.slice(start, i).trimEnd());
    const c = text.charCodeAt(i);
    if (c === 0x5d) return skipSpace(text, i + 1) === text.length ? elements : undefined;
    if (c !== 0x2c) return undefined;
    i = skipSpace(text, i + 1);
  }
}

function skipSpace(text: string, from: number): number {
  let i = from;
  while (
    i < text.length &&
    (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')
  )
    i += 1;
  return i;
}

function objectOrUndefined(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function timeOf(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : at;
}

/**
 * Validates a page of `collection`: a JSON array of objects, each with a
 * string id (a conversation also with a `last_status` that has one; one
 * without a last status has nothing to relay and is left out). Throws
 * MastodonAnswerError on anything else; the text is parsed once for the check
 * and kept as received for relaying.
 */
export function parsePage(text: string, collection: MastodonCollection): MastodonItem[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new MastodonAnswerError('answer is not JSON');
  }
  if (!Array.isArray(parsed)) throw new MastodonAnswerError('answer is not a JSON array');
  const texts = splitJsonArray(text);
  if (!texts || texts.length !== parsed.length)
    throw new MastodonAnswerError('answer is not a JSON array');
  const items: MastodonItem[] = [];
  parsed.forEach((value, index) => {
    const object = objectOrUndefined(value);
    if (!object || !isMastodonId(object.id)) {
      throw new MastodonAnswerError(`element ${index} is not an object with a string id`);
    }
    if (collection === 'notifications') {
      items.push({ key: object.id, createdAt: timeOf(object.created_at), json: texts[index] });
      return;
    }
    if (object.last_status === null || object.last_status === undefined) return;
    const status = objectOrUndefined(object.last_status);
    if (!status || !isMastodonId(status.id)) {
      throw new MastodonAnswerError(`element ${index} has no last_status with a string id`);
    }
    items.push({ key: status.id, createdAt: timeOf(status.created_at), json: texts[index] });
  });
  return items;
}

/**
 * The `next` and `prev` targets of a Link header (RFC 8288), reduced to the
 * paging parameters Mastodon puts in them. Malformed parts are ignored.
 */
export function parseLinkHeader(header: string | undefined): {
  next?: PageParams;
  prev?: PageParams;
} {
  const result: { next?: PageParams; prev?: PageParams } = {};
  if (!header || header.length > 8_192) return result;
  for (const part of header.split(',')) {
    const match = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (!match) continue;
    const rel = /(?:^|;)\s*rel\s*=\s*"?([a-z ]+)"?/i.exec(match[2])?.[1]?.toLowerCase().split(' ');
    if (!rel) continue;
    let url: URL;
    try {
      url = new URL(match[1], 'http://link.invalid');
    } catch {
      continue;
    }
    const params: PageParams = {};
    const maxId = url.searchParams.get('max_id');
    const minId = url.searchParams.get('min_id');
    const sinceId = url.searchParams.get('since_id');
    if (isMastodonId(maxId)) params.maxId = maxId;
    if (isMastodonId(minId)) params.minId = minId;
    if (isMastodonId(sinceId)) params.sinceId = sinceId;
    if (rel.includes('next')) result.next = params;
    if (rel.includes('prev')) result.prev = params;
  }
  return result;
}
