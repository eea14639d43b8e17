/**
 * Paths pino removes from every log line. Tokens and secrets are also kept out
 * of messages by never interpolating them; this is the second line of defence.
 */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.body.access_token',
  'req.body.app_secret',
  'headers.authorization',
  'headers.Authorization',
  'accessToken',
  'access_token',
  'appSecret',
  'app_secret',
  'secret',
  'webhookSecret',
  'password',
  '*.accessToken',
  '*.access_token',
  '*.appSecret',
  '*.app_secret',
  '*.secret',
  '*.webhookSecret',
  '*.password',
  '*.authorization',
  '*.Authorization',
];

/** Removes query strings, where tokens travel in some clients, from a URL before it is logged. */
export function urlForLog(url: string): string {
  try {
    // the origin never carries credentials
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '[invalid url]';
  }
}

/** `/push/<id>`: the id is what lets an instance push for a user, so it is never logged. */
const PUSH_PATH = /^(\/push\/)[^/?#]+/;

/** A request path as logged: no query string, and no Web Push id. */
export function pathForLog(url: string): string {
  return url.split('?')[0].replace(PUSH_PATH, '$1[redacted]');
}
