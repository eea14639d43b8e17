import { CanActivate, ExecutionContext, ForbiddenException, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { SETTINGS, Settings } from '@app/config';
import { secretsEqual } from '@app/security';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** The token a request presents: `Authorization: Bearer …`, else `?token=…` (a link an operator can bookmark). */
export function presentedToken(request: Pick<FastifyRequest, 'headers' | 'query'>): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string' && /^Bearer\s+/i.test(header)) return header.replace(/^Bearer\s+/i, '').trim();
  const query = request.query as Record<string, unknown> | undefined;
  return typeof query?.token === 'string' ? query.token : undefined;
}

/**
 * The status page shows every registration's instance, app and last error:
 * with ADMIN_TOKEN set it asks for that token (compared in constant time);
 * without one it answers only clients on this machine.
 */
@Injectable()
export class StatusAccessGuard implements CanActivate {
  constructor(@Inject(SETTINGS) private readonly settings: Settings) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const expected = this.settings.adminToken;
    if (expected === undefined) {
      if (LOOPBACK.has(request.socket.remoteAddress ?? '')) return true;
      throw new ForbiddenException('the status page answers loopback clients only unless ADMIN_TOKEN is set');
    }
    const given = presentedToken(request);
    if (given !== undefined && secretsEqual(given, expected)) return true;
    throw new UnauthorizedException('the status page needs ADMIN_TOKEN (Authorization: Bearer … or ?token=…)');
  }
}
