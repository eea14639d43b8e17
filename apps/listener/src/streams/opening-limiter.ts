/**
 * Per-key admission with a FIFO wait list: at most `limit` holders of a key
 * are active at once, the rest wait their turn. Used per instance twice: for
 * handshakes in progress (so a restart with thousands of registrations does not
 * hammer an instance) and for streams held (instance_map maxConnections).
 * The limit is passed on every call because a config reload may change it.
 */
export class OpeningLimiter<T> {
  private readonly keys = new Map<string, { active: Set<T>; waiting: Set<T> }>();

  /** `grant` is called when a waiting holder becomes active. */
  constructor(private readonly grant: (holder: T) => void) {}

  /** Activates `holder` now (true) or queues it (false). `limit` undefined or not finite means no limit; 0 admits nobody. */
  acquire(key: string, holder: T, limit: number | undefined): boolean {
    const slot = this.slot(key);
    if (slot.active.has(holder)) return true;
    if (slot.waiting.has(holder)) return false;
    if (slot.waiting.size === 0 && !this.full(slot.active.size, limit)) {
      slot.active.add(holder);
      return true;
    }
    slot.waiting.add(holder);
    return false;
  }

  /** Gives up `holder`'s place (active or waiting) and lets the next waiting holders in. */
  release(key: string, holder: T, limit: number | undefined): void {
    const slot = this.keys.get(key);
    if (!slot) return;
    const wasActive = slot.active.delete(holder);
    slot.waiting.delete(holder);
    if (wasActive) this.pump(key, limit);
    else this.dropIfEmpty(key, slot);
  }

  /** Lets waiting holders in up to `limit` (after a limit was raised). */
  pump(key: string, limit: number | undefined): void {
    const slot = this.keys.get(key);
    if (!slot) return;
    while (slot.waiting.size > 0 && !this.full(slot.active.size, limit)) {
      const next = slot.waiting.values().next().value as T;
      slot.waiting.delete(next);
      slot.active.add(next);
      this.grant(next);
    }
    this.dropIfEmpty(key, slot);
  }

  /** The holders of `key` activated last beyond `limit` (after the limit was lowered): newest first. */
  newestOverLimit(key: string, limit: number | undefined): T[] {
    const slot = this.keys.get(key);
    if (!slot || limit === undefined || !this.full(slot.active.size, limit)) return [];
    const excess = slot.active.size - limit;
    return excess > 0 ? [...slot.active].slice(-excess).reverse() : [];
  }

  /** Keys that have holders waiting. */
  keysWithWaiting(): string[] {
    return [...this.keys].filter(([, slot]) => slot.waiting.size > 0).map(([key]) => key);
  }

  /** The first waiting holder of `key`, if any. */
  firstWaiting(key: string): T | undefined {
    return this.keys.get(key)?.waiting.values().next().value;
  }

  isActive(key: string, holder: T): boolean {
    return this.keys.get(key)?.active.has(holder) ?? false;
  }

  activeCount(key: string): number {
    return this.keys.get(key)?.active.size ?? 0;
  }

  waitingCount(key: string): number {
    return this.keys.get(key)?.waiting.size ?? 0;
  }

  private full(active: number, limit: number | undefined): boolean {
    return limit !== undefined && Number.isFinite(limit) && active >= limit;
  }

  private slot(key: string): { active: Set<T>; waiting: Set<T> } {
    let slot = this.keys.get(key);
    if (!slot) {
      slot = { active: new Set(), waiting: new Set() };
      this.keys.set(key, slot);
    }
    return slot;
  }

  private dropIfEmpty(key: string, slot: { active: Set<T>; waiting: Set<T> }): void {
    if (slot.active.size === 0 && slot.waiting.size === 0) this.keys.delete(key);
  }
}
