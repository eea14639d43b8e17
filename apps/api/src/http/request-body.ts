import { BadRequestException } from '@nestjs/common';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A field name as it may appear in an error message: bounded and printable. */
function shownName(name: string): string {
  // eslint-disable-next-line no-control-regex -- replacing control characters is the point
  const printable = name.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return printable.length > 64 ? `${printable.slice(0, 64)}…` : printable;
}

function decodeUtf8(body: Buffer): string {
  try {
    return strictUtf8.decode(body);
  } catch {
    throw new BadRequestException('body must be UTF-8 text');
  }
}

/** `application/x-www-form-urlencoded` decoding; undefined when the escapes do not form UTF-8. */
function decodeFormComponent(raw: string): string | undefined {
  const spaced = raw.includes('+') ? raw.replace(/\+/g, ' ') : raw;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return undefined;
  }
}

export type FormFields = Record<string, string | string[]>;

/**
 * Parses a form body strictly: raw bytes and %-escapes must both be UTF-8
 * (a lenient parser would silently turn them into U+FFFD or keep the escapes).
 * A repeated field becomes a list, which the field rules then refuse.
 */
export function parseFormBody(body: Buffer): FormFields {
  const text = decodeUtf8(body);
  const fields = Object.create(null) as FormFields;
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const separator = pair.indexOf('=');
    const name = decodeFormComponent(separator === -1 ? pair : pair.slice(0, separator));
    if (name === undefined)
      throw new BadRequestException('body has a form field name that is not %-encoded UTF-8');
    const value = decodeFormComponent(separator === -1 ? '' : pair.slice(separator + 1));
    if (value === undefined)
      throw new BadRequestException(`${shownName(name)} must be %-encoded UTF-8`);
    const existing = fields[name];
    if (existing === undefined) fields[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else fields[name] = [existing, value];
  }
  return fields;
}

/**
 * Parses a JSON body that must be one object. `parseJson` is Fastify's own
 * parser, which refuses `__proto__` and `constructor.prototype` keys.
 */
export function parseJsonObjectBody(
  body: Buffer,
  parseJson: (text: string) => unknown,
): Record<string, unknown> {
  const text = decodeUtf8(body);
  if (text.trim() === '') throw new BadRequestException('body must be a JSON object');
  let parsed: unknown;
  try {
    parsed = parseJson(text);
  } catch {
    // the parser's own message may quote the body, and with it a token
    throw new BadRequestException('body is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BadRequestException('body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}
