import { InstanceEntry, StreamEndpoint } from '@app/config';
import { Registration } from '@app/database';
import { MastodonStream, StreamTarget } from '@app/mastodon';
import { RoutableStream } from '../events/event-router.service';

export type StreamState =
  /** waiting for one of the instance's maxConnections */
  | 'waiting_slot'
  /** asking the instance (cached) where to connect */
  | 'resolving'
  /** waiting for one of the instance's concurrent handshakes */
  | 'waiting_handshake'
  | 'connecting'
  | 'open'
  /** waiting to reconnect */
  | 'backoff'
  /** its instance is down: waiting for the instance's probe to get through */
  | 'waiting_instance'
  /** removed from the registry; late callbacks for it are ignored */
  | 'stopped';

/**
 * What the listener keeps per registration. Kept small on purpose: ten
 * thousand of these live at once, and the only timer one may own is its
 * reconnect timer while in backoff.
 */
export class StreamEntry implements RoutableStream {
  state: StreamState = 'waiting_slot';
  endpoint: StreamEndpoint | undefined;
  target: StreamTarget | undefined;
  /** The current connection (connecting or open). */
  stream: MastodonStream<StreamEntry> | undefined;
  /** After stop(): the connection still closing, which keeps the instance's connection slot until it ends. */
  closingStream: MastodonStream<StreamEntry> | undefined;
  /** The connection counted in msl_streams_open, until it ends. */
  countedStream: MastodonStream<StreamEntry> | undefined;
  /** Reconnection attempts since the last connection that stayed up (attempts while waiting for a probe do not count). */
  attempt = 0;
  openedAt = 0;
  /** Bumped whenever a pending asynchronous step must be abandoned. */
  generation = 0;
  retryTimer: NodeJS.Timeout | undefined;

  constructor(
    public registration: Registration,
    public instance: InstanceEntry,
    public instanceKey: string,
  ) {}

  get id(): number {
    return this.registration.id;
  }

  get instanceUrl(): string {
    return this.registration.instanceUrl;
  }
}

/** The instance_map settings that decide where a stream connects: a change means reconnecting. */
export function connectionSettingsKey(instance: InstanceEntry): string {
  return [
    instance.replaceUrl ?? '',
    instance.replaceUrlWeb ?? '',
    instance.endpoint ?? '',
    instance.allowPrivateAddress ? 1 : 0,
  ].join('|');
}
