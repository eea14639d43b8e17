import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from './bigint.transformer';

export const LISTENER_NODES_TABLE = 'stream_listener_nodes';

/**
 * One running listener process, as the others see it. Ownership of every
 * registration follows from the live rows of this table, so this is all
 * listeners share besides the registrations themselves.
 */
@Entity({ name: LISTENER_NODES_TABLE })
export class ListenerNodeEntity {
  /** Host name, process id and a random suffix: unique per process start. */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id: string;

  /** ms since the epoch, the node's own clock. */
  @Column({ type: 'bigint', transformer: bigintAsNumber })
  startedAt: number;

  /** Written every poll; a node silent for LISTENER_NODE_TIMEOUT_MS is dead to the others. */
  @Column({ type: 'bigint', transformer: bigintAsNumber })
  heartbeatAt: number;

  /** 1 while the node hands its streams over before exiting: it owns nothing any more. */
  @Column({ type: 'int', default: 0 })
  leaving: number;

  /**
   * Fingerprint of the members this node last saw (its view). When every
   * live node publishes the same view, they agree on who owns what: a
   * handover is complete and per-instance limit shares may grow.
   */
  @Column({ type: 'varchar', length: 64 })
  view: string;

  /** Streams open at the last heartbeat (for operators and the benchmark). */
  @Column({ type: 'int', default: 0 })
  streamsOpen: number;
}
