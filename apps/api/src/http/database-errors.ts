import { ServiceUnavailableException } from '@nestjs/common';
import { QueryFailedError, TypeORMError } from 'typeorm';

/** Answered as 503 whenever the database cannot take a read or a write. */
export class DatabaseUnavailableException extends ServiceUnavailableException {
  constructor() {
    super('database unavailable');
  }
}

const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
]);

/** Whether `error` comes from the database driver or its connection rather than from our own code. */
export function isDatabaseError(error: unknown): boolean {
  if (error instanceof TypeORMError) return true;
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { code?: unknown; sqlState?: unknown; severity?: unknown };
  if (typeof candidate.sqlState === 'string' || typeof candidate.severity === 'string') return true;
  return typeof candidate.code === 'string' && NETWORK_ERROR_CODES.has(candidate.code);
}

/**
 * A log-safe description. A failed query is described by its driver code only:
 * some drivers quote part of the offending value (a token) in the message.
 */
export function describeDatabaseError(error: unknown): string {
  if (error instanceof QueryFailedError) {
    const driverError = error.driverError as { code?: unknown; errno?: unknown } | undefined;
    const code = driverError?.code ?? driverError?.errno;
    return `query failed (${typeof code === 'string' || typeof code === 'number' ? code : 'unknown code'})`;
  }
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
