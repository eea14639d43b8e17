import type { ListenerNodeEntity } from './entities/listener-node.entity';

/**
 * How the cluster regards a listener, from its row in `stream_listener_nodes`:
 * - `alive`: heartbeat within LISTENER_NODE_TIMEOUT_MS and not leaving: it owns its share;
 * - `leaving`: heartbeat within the timeout, handing its streams over before it exits: it owns nothing;
 * - `dead`: silent longer than the timeout: the others have taken its registrations.
 */
export const LISTENER_LIVENESS = ['alive', 'leaving', 'dead'] as const;
export type ListenerLiveness = (typeof LISTENER_LIVENESS)[number];

type HeartbeatRow = Pick<ListenerNodeEntity, 'heartbeatAt' | 'leaving'>;

/** Whether `node` beat recently enough for the others to count on it (the membership's one rule). */
export function heartbeatFresh(node: Pick<HeartbeatRow, 'heartbeatAt'>, now: number, timeoutMs: number): boolean {
  return node.heartbeatAt >= now - timeoutMs;
}

export function listenerLiveness(node: HeartbeatRow, now: number, timeoutMs: number): ListenerLiveness {
  if (!heartbeatFresh(node, now, timeoutMs)) return 'dead';
  return node.leaving !== 0 ? 'leaving' : 'alive';
}
