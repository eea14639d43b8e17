import { ExecutionContext, ForbiddenException, UnauthorizedException } from '@nestjs/common';
import type { Settings } from '@app/config';
import { StatusAccessGuard } from './status-access.guard';

function contextFor(request: { remoteAddress: string; authorization?: string; token?: string }): ExecutionContext {
  const req = {
    socket: { remoteAddress: request.remoteAddress },
    headers: request.authorization === undefined ? {} : { authorization: request.authorization },
    query: request.token === undefined ? {} : { token: request.token },
  };
  return { switchToHttp: () => ({ getRequest: () => req }) } as unknown as ExecutionContext;
}

const TOKEN = 'a-long-admin-token-1234';

describe('StatusAccessGuard', () => {
  it('without ADMIN_TOKEN lets loopback clients in (IPv4, IPv6, mapped) and refuses every other', () => {
    const guard = new StatusAccessGuard({} as Settings);
    for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      expect(guard.canActivate(contextFor({ remoteAddress: address }))).toBe(true);
    }
    for (const address of ['10.0.0.5', '192.168.1.2', '::ffff:10.0.0.5', '']) {
      expect(() => guard.canActivate(contextFor({ remoteAddress: address, token: TOKEN }))).toThrow(ForbiddenException);
    }
  });

  it('with ADMIN_TOKEN asks everyone, loopback included, for the token by header or query', () => {
    const guard = new StatusAccessGuard({ adminToken: TOKEN } as Settings);
    expect(() => guard.canActivate(contextFor({ remoteAddress: '127.0.0.1' }))).toThrow(UnauthorizedException);
    expect(() => guard.canActivate(contextFor({ remoteAddress: '127.0.0.1', token: `${TOKEN}x` }))).toThrow(UnauthorizedException);
    expect(() => guard.canActivate(contextFor({ remoteAddress: '10.0.0.5', authorization: `Basic ${TOKEN}` }))).toThrow(UnauthorizedException);
    expect(guard.canActivate(contextFor({ remoteAddress: '10.0.0.5', authorization: `Bearer ${TOKEN}` }))).toBe(true);
    expect(guard.canActivate(contextFor({ remoteAddress: '10.0.0.5', authorization: `bearer  ${TOKEN}` }))).toBe(true);
    expect(guard.canActivate(contextFor({ remoteAddress: '10.0.0.5', token: TOKEN }))).toBe(true);
  });
});
