import { relayTargetOf } from '@app/callback';
import { Injectable, Logger } from '@nestjs/common';
import { AppConfigService, ConfigMaps, DEFAULT_APP_EVENTS, StreamEndpoint } from '@app/config';
import { Registration, registrationLabel } from '@app/database';
import { frameExcerpt, isKnownStreamingEvent, parseStreamingFrame } from '@app/mastodon';
import { CatchUpService } from '../catch-up/catch-up.service';
import { objectIdOf } from '../catch-up/object-id';
import { isTokenRefusal } from '../lifecycle/removal-reason';
import { ListenerMetrics } from '../listener.metrics';

/** What the router needs to know about the stream a frame came from. */
export interface RoutableStream {
  readonly registration: Registration;
  /** The endpoint the stream was opened with. */
  readonly endpoint: StreamEndpoint | undefined;
}

/** An error frame in which Mastodon refused the stream's token. */
export interface TokenRefusalFrame {
  status: number;
  error: string;
}

/** Malformed-frame log lines allowed per second across all streams; the rest are only counted. */
const MALFORMED_LOG_LINES_PER_SECOND = 10;

/**
 * Decides what happens to each frame: the events the registration's app
 * receives (`events` in app_map, by default `notification` from any stream and
 * `conversation` from the direct stream) go to the callback dispatcher (through
 * the catch-up seam, which may hold them while missed ones are fetched) with the
 * payload untouched; every other event is counted and dropped. An error frame
 * refusing the token is handed back to the stream's owner. Runs for every
 * frame of every stream, so it parses only the outer JSON and writes nothing.
 */
@Injectable()
export class EventRouterService {
  private readonly logger = new Logger(EventRouterService.name);
  private logWindowStart = 0;
  private logLinesInWindow = 0;
  private suppressed = 0;
  /** Events relayed per app, rebuilt when a reload brings new maps (so live streams follow at once). */
  private appEvents = new Map<string, ReadonlySet<string>>();
  private appEventsFrom: ConfigMaps | undefined;

  constructor(
    private readonly catchUp: CatchUpService,
    private readonly metrics: ListenerMetrics,
    private readonly config: AppConfigService,
  ) {}

  /** Returns the frame when it refuses the token (the stream must end); otherwise undefined. */
  route(
    source: RoutableStream,
    data: Buffer,
    isBinary: boolean,
    receivedAt: number,
  ): TokenRefusalFrame | undefined {
    const frame = parseStreamingFrame(data, isBinary);
    if (frame.ok === 'error') {
      this.metrics.eventReceived('error');
      if (isTokenRefusal(frame.status)) return { status: frame.status, error: frame.error };
      this.logSkipped(
        source,
        `error frame skipped (status ${frame.status})`,
        data,
        isBinary,
        receivedAt,
      );
      return undefined;
    }
    if (!frame.ok) {
      this.metrics.eventReceived('malformed');
      this.logSkipped(
        source,
        `malformed frame skipped (${frame.reason})`,
        data,
        isBinary,
        receivedAt,
      );
      return undefined;
    }
    const event = frame.event;
    this.metrics.eventReceived(isKnownStreamingEvent(event) ? event : 'unknown');
    if (event === 'conversation' && source.endpoint !== 'direct') return undefined;
    const registration = source.registration;
    if (!this.eventsOf(registration.appId).has(event)) return undefined;
    this.catchUp.relay({
      ...relayTargetOf(registration),
      event,
      payload: frame.payload,
      objectId: objectIdOf(event, frame.payload),
      receivedAt,
    });
    return undefined;
  }

  private eventsOf(appId: string): ReadonlySet<string> {
    const maps = this.config.maps;
    if (maps !== this.appEventsFrom) {
      this.appEventsFrom = maps;
      this.appEvents = new Map();
    }
    let events = this.appEvents.get(appId);
    if (!events) {
      events = new Set(this.config.findApp(appId)?.events ?? DEFAULT_APP_EVENTS);
      this.appEvents.set(appId, events);
    }
    return events;
  }

  private logSkipped(
    source: RoutableStream,
    what: string,
    data: Buffer,
    isBinary: boolean,
    now: number,
  ): void {
    if (now - this.logWindowStart >= 1_000) {
      if (this.suppressed > 0)
        this.logger.warn(`${this.suppressed} more skipped frame(s) not logged`);
      this.logWindowStart = now;
      this.logLinesInWindow = 0;
      this.suppressed = 0;
    }
    if (this.logLinesInWindow >= MALFORMED_LOG_LINES_PER_SECOND) {
      this.suppressed += 1;
      return;
    }
    this.logLinesInWindow += 1;
    const excerpt = frameExcerpt(data, isBinary, source.registration.accessToken);
    this.logger.warn(`${what} on ${registrationLabel(source.registration)}: ${excerpt}`);
  }
}
