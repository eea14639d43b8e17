/** A task waiting for its turn at one instance. */
interface Waiter {
  start: () => void;
}

interface Lane {
  active: number;
  waiting: Waiter[];
  /** No request before this time (429, or no requests left), ms since the epoch. */
  pausedUntil: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Lets at most `limit` catch-up requests run at once per instance, in the
 * order they asked, and none while the instance has told us to wait (a 429's
 * Retry-After, or X-RateLimit-Remaining 0 until its reset). Other instances
 * are not affected, and neither are streams: only catch-up requests wait here.
 */
export class InstanceGate {
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly limit: () => number) {}

  /** Runs `task` when `instance` has room; the slot is freed when it settles. */
  run<T>(instance: string, task: () => Promise<T>): Promise<T> {
    const lane = this.laneFor(instance);
    return new Promise<T>((resolve, reject) => {
      lane.waiting.push({
        start: () => {
          lane.active += 1;
          task()
            .then(resolve, reject)
            .finally(() => {
              lane.active -= 1;
              this.pump(instance, lane);
            });
        },
      });
      this.pump(instance, lane);
    });
  }

  /** The instance asked for no request before `until`. */
  pause(instance: string, until: number): void {
    const lane = this.laneFor(instance);
    // Stryker disable next-line EqualityOperator: an equal time sets the value it already has
    if (until > lane.pausedUntil) lane.pausedUntil = until;
  }

  /** How long `instance` still asks us to wait, in ms (0: not paused). */
  pausedFor(instance: string, now = Date.now()): number {
    return Math.max((this.lanes.get(instance)?.pausedUntil ?? 0) - now, 0);
  }

  /** Waiting tasks are dropped (their promises never settle); timers stop. */
  stop(): void {
    for (const lane of this.lanes.values()) {
      clearTimeout(lane.timer);
      lane.waiting.length = 0;
    }
  }

  private laneFor(instance: string): Lane {
    let lane = this.lanes.get(instance);
    if (!lane) {
      lane = { active: 0, waiting: [], pausedUntil: 0, timer: undefined };
      this.lanes.set(instance, lane);
    }
    return lane;
  }

  private pump(instance: string, lane: Lane): void {
    const wait = lane.pausedUntil - Date.now();
    if (wait > 0) {
      if (!lane.timer && lane.waiting.length > 0) {
        lane.timer = setTimeout(() => {
          lane.timer = undefined;
          this.pump(instance, lane);
        }, wait);
        lane.timer.unref();
      }
      return;
    }
    while (lane.active < this.limit() && lane.waiting.length > 0) lane.waiting.shift()!.start();
    // the pause is over here (a paused lane returned above): an idle lane holds nothing worth keeping
    if (lane.active === 0 && lane.waiting.length === 0) this.lanes.delete(instance);
  }
}
