import { compareMastodonIds, MastodonCollection, newerMastodonId } from '@app/mastodon';

/** Queue mark: when every event before it is safe, the hold it belongs to ends. */
interface ReleaseMark {
  release: number;
}

/** Queue entry for a floor: an id that is safe as soon as everything before it is. */
interface FloorMark {
  floor: string;
}

type Pending = string | ReleaseMark | FloorMark;

/** What the book knows of one registration. */
interface CursorState {
  /** Which id space the cursor is in (notification ids, or last-status ids for conversations). */
  collection: MastodonCollection;
  /** Newest id that is safe and may be stored: every object up to it is delivered or durably queued. */
  cursor: string | null;
  /** Newest id that became safe, stored or not (held back while a gap is not fetched yet). */
  settled: string | null;
  /** Newest id handed to the dispatcher (safe or not). */
  dispatched: string | null;
  /** While a catch-up has failed and not been redone, the cursor must not pass the gap. */
  heldEpoch: number;
  held: boolean;
  /** While held: where the gap starts, past everything handed over before it (those events are in the dispatcher's hands). */
  heldFrom: string | null;
  /** Ids handed to the dispatcher and marks, in order, from `head` on. */
  pending: Pending[];
  head: number;
  /** Indices of pending entries that became safe before an earlier one. */
  early: Set<number> | undefined;
  /** The cursor was changed since it was last stored. */
  dirty: boolean;
}

/** A cursor to store. */
export interface CursorChange {
  id: number;
  cursor: string | null;
}

/**
 * The catch-up cursors in memory, one per registration, and the rule that
 * moves them: a cursor advances to an id only once that event and every
 * event handed to the dispatcher before it for the registration are safe
 * (delivered, committed to the retry table, or dropped for good), so a crash
 * at any moment leaves the stored cursor behind everything still in memory.
 * While a catch-up has failed the cursor stays where the gap starts.
 *
 * Costs per event: one array push when dispatched, one shift when safe.
 */
export class CursorBook {
  private readonly states = new Map<number, CursorState>();

  /** Whether the book has a cursor (or a null one it took over) for `id`. */
  knows(id: number): boolean {
    return this.states.has(id);
  }

  /**
   * Takes the stored cursor of a registration the book does not know yet, or
   * starts over when the known one belongs to another collection (the endpoint
   * changed between `direct` and the others: their ids are not comparable).
   */
  adopt(id: number, collection: MastodonCollection, stored: string | null): void {
    const known = this.states.get(id);
    if (known && known.collection === collection) {
      // the row lost its cursor (re-registered with another endpoint of the same id space): store ours again
      if (stored === null && known.cursor !== null) known.dirty = true;
      return;
    }
    this.states.set(id, {
      collection,
      cursor: known ? null : stored,
      settled: null,
      dispatched: null,
      heldEpoch: 0,
      held: false,
      heldFrom: null,
      pending: [],
      head: 0,
      early: undefined,
      dirty: known !== undefined,
    });
  }

  /** Where the next catch-up starts: past everything handed over, or where an unfetched gap starts. Null: take a floor. */
  catchUpFrom(id: number): string | null {
    const state = this.states.get(id);
    if (!state) return null;
    if (state.held) return state.heldFrom;
    return newerMastodonId(state.cursor, state.dispatched);
  }

  cursorOf(id: number): string | null | undefined {
    return this.states.get(id)?.cursor;
  }

  isHeld(id: number): boolean {
    return this.states.get(id)?.held === true;
  }

  /** An event of `id` was handed to the dispatcher. */
  dispatched(id: number, objectId: string): void {
    const state = this.states.get(id);
    if (!state) return;
    state.pending.push(objectId);
    state.dispatched = newerMastodonId(state.dispatched, objectId);
  }

  /** The dispatcher reports the event of `objectId` safe. */
  settled(id: number, objectId: string): void {
    const state = this.states.get(id);
    if (!state) return;
    const { pending } = state;
    if (pending[state.head] === objectId) {
      state.head += 1;
      this.reached(state, objectId);
    } else {
      const index = pending.indexOf(objectId, state.head + 1);
      // Stryker disable next-line ConditionalExpression: an early -1 is never looked up (head >= 0), and popSafe finds nothing new to pop
      if (index === -1) return;
      (state.early ??= new Set()).add(index);
    }
    this.popSafe(state);
  }

  /** `floorId` becomes the cursor once everything handed over before now is safe. */
  advanceTo(id: number, floorId: string): void {
    const state = this.states.get(id);
    if (!state) return;
    state.pending.push({ floor: floorId });
    this.popSafe(state);
  }

  /**
   * A catch-up failed: the stored cursor stays before the gap until release()
   * and everything before it is safe; catch-ups start where the gap does.
   */
  hold(id: number): void {
    const state = this.states.get(id);
    if (!state) return;
    // a catch-up retried after a second failure still starts where the first gap did
    if (!state.held) state.heldFrom = newerMastodonId(state.cursor, state.dispatched);
    state.held = true;
    // Stryker disable next-line AssignmentOperator: epochs are only compared for equality; counting down keeps each hold's number as unique
    state.heldEpoch += 1;
  }

  /** The gap was fetched and handed over: the hold ends once those events are safe. */
  release(id: number): void {
    const state = this.states.get(id);
    if (!state || !state.held) return;
    state.pending.push({ release: state.heldEpoch });
    this.popSafe(state);
  }

  /** The registration is gone: nothing of it is stored any more. */
  forget(id: number): void {
    this.states.delete(id);
  }

  /** Cursors changed since the last call, marked as stored (call restore() if storing fails). */
  takeChanges(): CursorChange[] {
    const changes: CursorChange[] = [];
    for (const [id, state] of this.states) {
      if (!state.dirty) continue;
      state.dirty = false;
      changes.push({ id, cursor: state.cursor });
    }
    return changes;
  }

  /** Marks `changes` as not stored, unless the cursor moved on meanwhile (then it is dirty anyway). */
  restore(changes: CursorChange[]): void {
    for (const change of changes) {
      const state = this.states.get(change.id);
      if (state) state.dirty = true;
    }
  }

  private popSafe(state: CursorState): void {
    const { pending } = state;
    while (state.head < pending.length) {
      const next = pending[state.head];
      if (typeof next === 'string') {
        if (!state.early?.delete(state.head)) break;
        state.head += 1;
        this.reached(state, next);
      } else if ('floor' in next) {
        state.head += 1;
        this.reached(state, next.floor);
      } else {
        state.head += 1;
        if (next.release === state.heldEpoch) {
          state.held = false;
          this.raise(state, state.settled);
        }
      }
    }
    if (state.head === pending.length) {
      pending.length = 0;
      state.head = 0;
      state.early = undefined;
    } else if (state.head > 1_024 && state.head * 2 > pending.length) {
      // early indices shift with the array
      pending.splice(0, state.head);
      if (state.early) state.early = new Set([...state.early].map((index) => index - state.head));
      state.head = 0;
    }
  }

  private reached(state: CursorState, objectId: string): void {
    state.settled = newerMastodonId(state.settled, objectId);
    if (!state.held) this.raise(state, objectId);
  }

  private raise(state: CursorState, objectId: string | null): void {
    if (objectId === null) return;
    if (state.cursor === null || compareMastodonIds(objectId, state.cursor) > 0) {
      state.cursor = objectId;
      state.dirty = true;
    }
  }
}
