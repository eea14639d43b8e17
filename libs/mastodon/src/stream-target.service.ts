import { Injectable } from '@nestjs/common';
import { InstanceEntry, StreamEndpoint } from '@app/config';
import { AddressGuardService, RefusedAddressError } from './address-guard.service';
import { InstanceInfo, InstanceInfoService } from './instance-info.service';
import { versionAtLeast } from './instance-version';
import { buildStreamingUrl, chooseStreamingBase } from './streaming-url';

/** Instances from this version on have the `user:notification` stream. */
export const NOTIFICATION_STREAM_SINCE = '1.4.2';

export type StreamTargetFailure = 'instance_info' | 'refused_address';

/** Why no stream URL could be worked out; the message names no secret. */
export class StreamTargetError extends Error {
  constructor(
    readonly reason: StreamTargetFailure,
    message: string,
  ) {
    super(message);
    this.name = 'StreamTargetError';
  }
}

export interface StreamTargetRequest {
  instanceUrl: string;
  /** The registration's own endpoint; null lets config and the instance version decide. */
  endpoint: StreamEndpoint | null;
  instance: Pick<
    InstanceEntry,
    'replaceUrl' | 'replaceUrlWeb' | 'endpoint' | 'allowPrivateAddress'
  >;
}

export interface StreamTarget {
  url: URL;
  endpoint: StreamEndpoint;
  /** The URL came from outside (not `replaceUrl`): sockets must refuse non-public addresses, redirects included. */
  guard: boolean;
}

/** The endpoint a registration streams: its own, else the instance_map's, else by instance version. */
export function chooseEndpoint(
  registrationEndpoint: StreamEndpoint | null,
  configured: StreamEndpoint | undefined,
  version: string | undefined,
): StreamEndpoint {
  if (registrationEndpoint) return registrationEndpoint;
  if (configured) return configured;
  return version !== undefined && versionAtLeast(version, NOTIFICATION_STREAM_SINCE)
    ? 'user:notification'
    : 'user';
}

/**
 * Works out where a registration's stream connects: base from replaceUrl,
 * urls.streaming_api or the instance URL; endpoint as chooseEndpoint. Asks the
 * instance (cached) only for what the config does not already say, and checks
 * every address that came from outside unless the operator allowed private ones.
 */
@Injectable()
export class StreamTargetService {
  constructor(
    private readonly instanceInfo: InstanceInfoService,
    private readonly guard: AddressGuardService,
  ) {}

  async resolve(request: StreamTargetRequest): Promise<StreamTarget> {
    const { instance } = request;
    const allowPrivate = instance.allowPrivateAddress === true;
    const needsInfo = !instance.replaceUrl || (!request.endpoint && !instance.endpoint);
    let info: InstanceInfo | undefined;
    if (needsInfo) {
      try {
        info = await this.instanceInfo.get(instance.replaceUrlWeb ?? request.instanceUrl, {
          guard: !instance.replaceUrlWeb && !allowPrivate,
        });
      } catch (error) {
        if (error instanceof RefusedAddressError)
          throw new StreamTargetError('refused_address', error.message);
        throw new StreamTargetError(
          'instance_info',
          `instance info unavailable: ${(error as Error).message}`,
        );
      }
    }
    const endpoint = chooseEndpoint(request.endpoint, instance.endpoint, info?.version);
    const { base, source } = chooseStreamingBase({
      replaceUrl: instance.replaceUrl,
      streamingApi: info?.streamingApi,
      instanceUrl: request.instanceUrl,
    });
    let url: URL;
    try {
      url = buildStreamingUrl(base, endpoint);
    } catch (error) {
      throw new StreamTargetError(
        'instance_info',
        `streaming base from ${source}: ${(error as Error).message}`,
      );
    }
    const guard = source !== 'replaceUrl' && !allowPrivate;
    if (guard) {
      const check = await this.guard.check(url);
      if (!check.ok)
        throw new StreamTargetError(
          'refused_address',
          `streaming URL from ${source} ${check.reason}`,
        );
    }
    return { url, endpoint, guard };
  }
}
