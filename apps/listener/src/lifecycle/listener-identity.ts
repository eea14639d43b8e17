import { hostname } from 'node:os';

/** Written as `heldBy`: which listener process holds a registration's stream (host and pid, at most 64 characters). */
export function listenerIdentity(): string {
  const pid = `:${process.pid}`;
  return `${hostname().slice(0, 64 - pid.length)}${pid}`;
}
