import { AppEntry, DEFAULT_APP_EVENTS, InstanceEntry } from '@app/config';
import { Registration } from '@app/database';
import { PUSH_ALERTS, versionAtLeast } from '@app/mastodon';

/** From this version Mastodon sends RFC 8291 `aes128gcm` when asked (`subscription[standard]`); before, `aesgcm`. */
export const STANDARD_WEB_PUSH_VERSION = '4.4.0';

export type TransportChoice =
  | { transport: 'stream' }
  | { transport: 'webpush' }
  /** Web Push was asked for but cannot serve this registration: it keeps the stream, saying why. */
  | { transport: 'stream'; instead: string };

/**
 * Which transport a registration gets: its own `transport`, else its
 * instance's, else `stream`. Web Push carries notifications only, so a
 * registration on the `direct` stream, or of an app that receives no
 * `notification`, keeps its stream; so does every registration while PUBLIC_URL is unset.
 */
export function chooseTransport(
  registration: Pick<Registration, 'transport' | 'endpoint'>,
  instance: Pick<InstanceEntry, 'transport' | 'endpoint'>,
  app: Pick<AppEntry, 'events'> | undefined,
  publicUrl: string | undefined,
): TransportChoice {
  const wanted = registration.transport ?? instance.transport ?? 'stream';
  if (wanted !== 'webpush') return { transport: 'stream' };
  if (!publicUrl) return { transport: 'stream', instead: 'Web Push needs PUBLIC_URL, which is not set' };
  if ((registration.endpoint ?? instance.endpoint) === 'direct')
    return { transport: 'stream', instead: 'the direct stream carries conversations, which Web Push does not send' };
  const events = app?.events ?? DEFAULT_APP_EVENTS;
  if (!events.includes('notification'))
    return { transport: 'stream', instead: 'Web Push sends notifications only, which this app does not receive' };
  return { transport: 'webpush' };
}

/** The alerts asked for: every notification type, the app receives `notification` (checked by chooseTransport). */
export function alertsFor(): readonly string[] {
  return PUSH_ALERTS;
}

/** Whether the instance is asked for RFC 8291 `aes128gcm` (`subscription[standard]=true`). */
export function asksStandard(version: string): boolean {
  return versionAtLeast(version, STANDARD_WEB_PUSH_VERSION);
}
