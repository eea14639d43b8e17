import { BeforeApplicationShutdown, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { RegistrationState, RegistrationStateRepository, StateWrite } from '@app/database';
import { MembershipService } from '../membership/membership.service';

/** How often recorded changes are written: a state in the database is at most this old. */
export const STATE_FLUSH_INTERVAL_MS = 1_000;

type LiveState = Exclude<RegistrationState, 'removed'>;

/**
 * Remembers each registration's state changes and relayed events in memory
 * and writes them in batches, once a second: ten thousand streams opening, or
 * two thousand events a second, cost a few statements, not one each. Only the
 * latest change of a registration since the last write is written. Removals
 * are not written here (RegistrationRemovalService writes them at once).
 */
@Injectable()
export class RegistrationStateRecorder implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(RegistrationStateRecorder.name);
  private pendingStates = new Map<number, StateWrite>();
  private pendingRelays = new Map<number, number>();
  /** The last state recorded per registration, so that repeating it writes nothing. */
  private readonly current = new Map<number, LiveState>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly states: RegistrationStateRepository,
    private readonly membership: MembershipService,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.flush(), STATE_FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /**
   * `state` from now on; `lastError` replaces the stored last error,
   * `endpointInUse` the stored endpoint. Entering the same state again
   * changes nothing unless it brings an error or an endpoint.
   */
  record(
    id: number,
    state: LiveState,
    details: { lastError?: string; endpointInUse?: string } = {},
  ): void {
    const previous = this.current.get(id);
    if (
      previous === state &&
      details.lastError === undefined &&
      details.endpointInUse === undefined
    )
      return;
    this.current.set(id, state);
    const pending = this.pendingStates.get(id);
    // the same state again keeps its start (stored, or pending); a new state starts now
    const since = previous === state ? pending?.since : Date.now();
    this.pendingStates.set(id, {
      id,
      state,
      since,
      lastError: details.lastError ?? pending?.lastError,
      endpointInUse: details.endpointInUse ?? pending?.endpointInUse,
    });
  }

  /** An event of registration `id` was handed to its callback at `at` (ms). */
  relayed(id: number, at: number): void {
    this.pendingRelays.set(id, at);
  }

  /** The registration ended or is no longer held here: nothing more is written for it. */
  forget(id: number): void {
    this.current.delete(id);
    this.pendingStates.delete(id);
    this.pendingRelays.delete(id);
  }

  /** Writes what was recorded since the last write; a failed write is tried again with the next. */
  flush(): Promise<void> {
    if (!this.flushing) {
      this.flushing = this.write().finally(() => {
        this.flushing = undefined;
      });
    }
    return this.flushing;
  }

  private async write(): Promise<void> {
    // Stryker disable next-line ConditionalExpression: spares a call only; each write below also checks its own size
    if (this.pendingStates.size === 0 && this.pendingRelays.size === 0) return;
    const states = this.pendingStates;
    const relays = this.pendingRelays;
    this.pendingStates = new Map();
    this.pendingRelays = new Map();
    try {
      // `heldBy` is the listener's id as its heartbeat row and the status page show it
      if (states.size > 0)
        await this.states.writeStates([...states.values()], this.membership.nodeId);
      if (relays.size > 0)
        await this.states.writeRelayedAt([...relays].map(([id, at]) => ({ id, at })));
    } catch (error) {
      this.logger.error(
        `registration states not written, trying again: ${(error as Error).message}`,
      );
      for (const [id, write] of states)
        if (!this.pendingStates.has(id) && this.current.has(id)) this.pendingStates.set(id, write);
      // a registration forgotten meanwhile (ended, or held elsewhere now) gets nothing written
      for (const [id, at] of relays)
        if (!this.pendingRelays.has(id) && this.current.has(id)) this.pendingRelays.set(id, at);
    }
  }
}
