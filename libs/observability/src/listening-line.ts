import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/** The URL a person on this machine would open for a server bound to `host` (0.0.0.0 and :: mean every interface). */
export function listeningUrl(host: string, port: number): string {
  const local = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const everywhere = host === '0.0.0.0' || host === '::' ? ' (all interfaces)' : '';
  return `http://${local}:${port}${everywhere}`;
}

/**
 * After `listen`: one line saying where the app answers and what it serves,
 * e.g. `api listening on http://localhost:4002 (all interfaces): /register, /docs, /health, /metrics`.
 */
export function logListening(app: NestFastifyApplication, name: string, host: string, paths: string[]): void {
  const address: AddressInfo | string | null = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : undefined;
  new Logger(name).log(`listening on ${listeningUrl(host, port ?? 0)}: ${paths.join(', ')}`);
}
