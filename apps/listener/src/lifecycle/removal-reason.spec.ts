import { isTokenRefusal, refusalReason } from './removal-reason';

describe('refusalReason', () => {
  it('reads a 403 as a token without the scope, whatever the message', () => {
    expect(refusalReason(403)).toBe('scope');
    expect(refusalReason(403, 'This action is outside the authorized scopes')).toBe('scope');
    expect(refusalReason(403, 'forbidden')).toBe('scope');
  });

  it('reads a 401 as revoked, unless its message is about scopes', () => {
    expect(refusalReason(401)).toBe('revoked');
    expect(refusalReason(401, 'The access token was revoked')).toBe('revoked');
    expect(refusalReason(401, 'This action is outside the authorized Scopes')).toBe('scope');
  });
});

describe('isTokenRefusal', () => {
  it('is true for 401 and 403 only', () => {
    expect(isTokenRefusal(401)).toBe(true);
    expect(isTokenRefusal(403)).toBe(true);
    for (const status of [undefined, 400, 402, 404, 410, 429, 500])
      expect(isTokenRefusal(status)).toBe(false);
  });
});
