import * as dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Agent, buildConnector } from 'undici';
import { SETTINGS, Settings } from '@app/config';
import { isPublicAddress } from '@app/security';

/** A connection was not opened because the callback's host resolved to a non-public address. */
export class CallbackAddressRefusedError extends Error {
  readonly code = 'ERR_CALLBACK_ADDRESS_REFUSED';

  constructor(readonly hostname: string) {
    super(`${hostname} resolves to a loopback, private or link-local address`);
    this.name = 'CallbackAddressRefusedError';
  }
}

/** How names are resolved: `dns.lookup` with `all: true` (the system resolver, /etc/hosts included). */
export type ResolveAll = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
) => void;

/**
 * A socket `lookup` that resolves like the default one, then refuses the
 * connection unless every address is public. The socket connects to exactly
 * the addresses judged here, so DNS has no window between a check and the
 * connection to start answering otherwise.
 */
export function createPublicOnlyLookup(resolveAll: ResolveAll = dns.lookup): LookupFunction {
  return (hostname, options, callback) => {
    resolveAll(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) {
        callback(error, '', 0);
        return;
      }
      if (addresses.length === 0 || !addresses.every((entry) => isPublicAddress(entry.address))) {
        callback(new CallbackAddressRefusedError(hostname), '', 0);
        return;
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

const errorsOfUsedSockets = new WeakSet<object>();

/**
 * Whether a connection error came from a socket that had already carried an
 * answer: a reset there before any answer is most likely the receiver closing
 * an idle keep-alive socket as the request was written, so the request never
 * got there.
 */
export function isErrorOfUsedSocket(error: unknown): boolean {
  return typeof error === 'object' && error !== null && errorsOfUsedSockets.has(error);
}

/** undici reports the socket's own error to the request, so it is marked on its way there. */
function markingErrorsOfUsedSockets(connect: buildConnector.connector): buildConnector.connector {
  return (options, callback) =>
    connect(options, (...result) => {
      const socket = result[1];
      if (socket) {
        socket.on('error', (socketError: Error) => {
          if (socket.bytesRead > 0) errorsOfUsedSockets.add(socketError);
        });
      }
      callback(...result);
    });
}

/**
 * Pooled keep-alive undici agents for callbacks: `trusted` for URLs under an
 * app's configured callbackUrlPrefix (the operator allowed them, private or
 * not), `publicOnly` for every other callback. Each keeps at most
 * maxConcurrentPerHost connections per origin, one request at a time on each.
 * undici follows no redirects, decompresses nothing and ignores proxy
 * variables (a proxy would make the address policy judge the proxy instead).
 *
 * Not axios (which instance-info requests still use): the callback client was
 * the listener's bottleneck. test/callback/measure-http-clients.ts (1.5 KB
 * POSTs, 64 concurrent, receiver on the same 2 cores, 9 rounds): CPU per
 * request axios 370–610 µs (1,400–2,900 req/s), node:http 180–330 µs
 * (2,200–5,700 req/s), undici Agent 80–170 µs (4,300–13,600 req/s).
 */
@Injectable()
export class CallbackHttpAgents implements OnApplicationShutdown {
  readonly trusted: Agent;
  readonly publicOnly: Agent;

  constructor(@Inject(SETTINGS) settings: Settings) {
    const { timeoutMs, maxConcurrentPerHost } = settings.callback;
    const pooling = {
      connections: maxConcurrentPerHost,
      // a POST is never queued behind another request's answer on one socket
      pipelining: 1,
      // idle sockets are closed before common server keep-alive timeouts (Node: 5 s) close them under a request
      keepAliveTimeout: 4_000,
    };
    this.trusted = new Agent({
      ...pooling,
      connect: markingErrorsOfUsedSockets(buildConnector({ timeout: timeoutMs })),
    });
    this.publicOnly = new Agent({
      ...pooling,
      connect: markingErrorsOfUsedSockets(
        buildConnector({ timeout: timeoutMs, lookup: createPublicOnlyLookup() }),
      ),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.trusted.destroy(), this.publicOnly.destroy()]);
  }
}
