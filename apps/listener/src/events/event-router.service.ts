import { Injectable, Logger } from '@nestjs/common';
import { StreamEndpoint } from '@app/config';
import { Registration, registrationLabel } from '@app/database';
import { frameExcerpt, isKnownStreamingEvent, parseStreamingFrame } from '@app/mastodon';
import { CatchUpService } from '../catch-up/catch-up.service';
import { objectIdOf } from '../catch-up/object-id';
import { ListenerMetrics } from '../listener.metrics';

/** What the router needs to know about the stream a frame came from. */
export interface RoutableStream {
  readonly registration: Registration;
  /** The endpoint the stream was opened with. */
  readonly endpoint: StreamEndpoint | undefined;
}

/** Malformed-frame log lines allowed per second across all streams; the rest are only counted. */
const MALFORMED_LOG_LINES_PER_SECOND = 10;

/**
 * Decides what happens to each frame: `notification` (any stream) and
 * `conversation` (the direct stream) go to the callback dispatcher (through
 * the catch-up seam, which may hold them while missed ones are fetched) with
 * the payload untouched; every other event is counted and dropped. Runs for every
 * frame of every stream, so it parses only the outer JSON and writes nothing.
 */
@Injectable()
export class EventRouterService {
  private readonly logger = new Logger(EventRouterService.name);
  private logWindowStart = 0;
  private logLinesInWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly catchUp: CatchUpService,
    private readonly metrics: ListenerMetrics,
  ) {}

  route(source: RoutableStream, data: Buffer, isBinary: boolean, receivedAt: number): void {
    const frame = parseStreamingFrame(data, isBinary);
    if (!frame.ok) {
      this.metrics.eventReceived('malformed');
      this.logMalformed(source, frame.reason, data, isBinary, receivedAt);
      return;
    }
    const event = frame.event;
    this.metrics.eventReceived(isKnownStreamingEvent(event) ? event : 'unknown');
    if (event !== 'notification' && !(event === 'conversation' && source.endpoint === 'direct'))
      return;
    const registration = source.registration;
    this.catchUp.relay({
      registrationId: registration.id,
      instanceUrl: registration.instanceUrl,
      tag: registration.tag,
      appId: registration.appId,
      callbackUrl: registration.callbackUrl,
      event,
      payload: frame.payload,
      objectId: objectIdOf(event, frame.payload),
      receivedAt,
    });
  }

  private logMalformed(
    source: RoutableStream,
    reason: string,
    data: Buffer,
    isBinary: boolean,
    now: number,
  ): void {
    if (now - this.logWindowStart >= 1_000) {
      if (this.suppressed > 0)
        this.logger.warn(`${this.suppressed} more malformed frame(s) not logged`);
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
    this.logger.warn(
      `malformed frame skipped (${reason}) on ${registrationLabel(source.registration)}: ${excerpt}`,
    );
  }
}
