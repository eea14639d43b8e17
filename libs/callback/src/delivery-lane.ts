/** An event waiting for its first attempt (or in it), in memory. */
export interface QueuedEvent {
  registrationId: number;
  /** The Mastodon id, reported to the settled listener once the event is safe. */
  objectId: string | undefined;
  appId: string;
  callbackUrl: string;
  webhookId: string;
  event: string;
  body: string;
  receivedAt: number;
  deadlineAt: number;
}

/**
 * The delivery state of one registration. In memory mode its events are
 * attempted straight from `queue`. Once an event fails it is durable: that
 * event and every later one go to the retry table behind it, and only the retry
 * worker sends, head first, until the table holds none of its rows again.
 */
export interface Lane {
  readonly registrationId: number;
  queue: QueuedEvent[];
  /** A request of this registration is in flight (at most one at a time). */
  busy: boolean;
  durable: boolean;
  /** Counts events handed to the writer; a drain goes back to memory mode only if none came meanwhile. */
  handedToWriter: number;
  /** Events handed to the writer and not committed yet. */
  unwritten: number;
}
