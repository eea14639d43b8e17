/** An event the listener relays to a registration's callback. */
export interface RelayEvent {
  registrationId: number;
  instanceUrl: string;
  tag: string;
  appId: string;
  callbackUrl: string;
  /** `notification` or `conversation`. */
  event: string;
  /** Exactly what Mastodon sent as `payload` (usually a JSON string). */
  payload: unknown;
  /**
   * The Mastodon object's id (a notification's id; a conversation's
   * last_status id) when known: the webhook-id is derived from it, and the
   * dispatcher reports the event settled under it (see onSettled).
   */
  objectId?: string;
  /** When the frame arrived (ms since the epoch); relay latency is measured from here. */
  receivedAt: number;
}
