import { RemovalReason } from '@app/database';

/**
 * Why Mastodon refused a token, from the status and (when there is one) its
 * message: 403, or a message about scopes, is a token that may not read
 * notifications; any other 401 is a token that is no longer valid.
 */
export function refusalReason(
  status: number,
  // Stryker disable next-line StringLiteral: any text without "scope" in it gives the same answer
  message = '',
): Extract<RemovalReason, 'revoked' | 'scope'> {
  if (status === 403 || /scope/i.test(message)) return 'scope';
  return 'revoked';
}

/** Whether an HTTP status (of an upgrade, a REST call or an error frame) means the token is refused. */
export function isTokenRefusal(status: number | undefined): boolean {
  return status === 401 || status === 403;
}
