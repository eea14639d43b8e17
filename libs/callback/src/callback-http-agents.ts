import * as dns from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import type { LookupFunction } from 'node:net';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
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
 * connection unless every address is public. Checking here, where the socket
 * connects, leaves no window between a check and the connection for DNS to
 * start answering otherwise.
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

export interface AgentPair {
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
}

/**
 * Pooled keep-alive agents for callbacks: `trusted` for URLs under an app's
 * configured callbackUrlPrefix (the operator allowed them, private or not),
 * `publicOnly` for every other callback.
 */
@Injectable()
export class CallbackHttpAgents implements OnApplicationShutdown {
  readonly trusted: AgentPair;
  readonly publicOnly: AgentPair;

  constructor(@Inject(SETTINGS) settings: Settings) {
    const common = {
      keepAlive: true,
      keepAliveMsecs: 1_000,
      maxSockets: settings.callback.maxConcurrentPerHost,
      maxFreeSockets: Math.min(settings.callback.maxConcurrentPerHost, 256),
      scheduling: 'lifo' as const,
      // idle pooled sockets are closed before common server keep-alive timeouts (Node: 5 s) close them under a request
      timeout: 4_000,
    };
    this.trusted = { httpAgent: new http.Agent(common), httpsAgent: new https.Agent(common) };
    const lookup = createPublicOnlyLookup();
    this.publicOnly = {
      httpAgent: new http.Agent({ ...common, lookup }),
      httpsAgent: new https.Agent({ ...common, lookup }),
    };
  }

  onApplicationShutdown(): void {
    for (const pair of [this.trusted, this.publicOnly]) {
      pair.httpAgent.destroy();
      pair.httpsAgent.destroy();
    }
  }
}
