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

/** Who a relayed event is for and where it goes, as a registration names them. */
export type RelayTarget = Pick<RelayEvent, 'registrationId' | 'instanceUrl' | 'tag' | 'appId' | 'callbackUrl'>;

/** The RelayTarget of a registration (any object with its id, key and callback URL). */
export function relayTargetOf(registration: {
  id: number;
  instanceUrl: string;
  tag: string;
  appId: string;
  callbackUrl: string;
}): RelayTarget {
  return {
    registrationId: registration.id,
    instanceUrl: registration.instanceUrl,
    tag: registration.tag,
    appId: registration.appId,
    callbackUrl: registration.callbackUrl,
  };
}
