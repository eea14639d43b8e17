/** Where a registration's Web Push subscription is: being made, made, or refused by the instance. */
export const PUSH_SUBSCRIPTION_STATES = ['subscribing', 'subscribed', 'refused'] as const;
export type PushSubscriptionState = (typeof PUSH_SUBSCRIPTION_STATES)[number];

/** A registration's push subscription with its keys in the clear (base64url), as the listener and the api use it. */
export interface PushSubscription {
  registrationId: number;
  pushId: string;
  publicKey: string;
  privateKey: string;
  authSecret: string;
  serverKey: string | null;
  state: PushSubscriptionState;
  tokenHash: string;
  lastError: string | null;
  updatedAt: number;
}

/** What the api needs to accept a push: the subscription and whether its registration is still live. */
export interface PushTarget extends PushSubscription {
  /** The registration row exists and has not ended. */
  registrationLive: boolean;
}
