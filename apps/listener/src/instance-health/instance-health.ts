import type { StreamEnd } from '@app/mastodon';
import { reconnectDelay } from '../streams/backoff';

/**
 * This many streams of one instance failing in a way that says "unreachable",
 * with no connection succeeding in between, mean the instance is down: one
 * failure may be that stream's own trouble, several at once are the instance's.
 */
export const OUTAGE_THRESHOLD = 3;
/** Failures further apart than this are not counted together (sporadic drops of single streams are no outage). */
export const OUTAGE_WINDOW_MS = 10_000;

export interface InstanceHealthOptions {
  probeBaseMs: number;
  probeMaxMs: number;
}

/** What the owner of the holders (the stream registry) does when the health of an instance changes. */
export interface InstanceHealthHandler<T> {
  /** `key` went down: holders between attempts of their own should wait for the probe from now on. */
  instanceDown(key: string, holder: T): void;
  /** Connect `holder` now, as the probe of its instance. */
  probe(holder: T): void;
  /** `key` answered again after `downForMs`: `holders` were waiting and reopen now. */
  reopen(key: string, holders: T[], downForMs: number): void;
}

interface Outage<T> {
  /** Failures counted towards an outage (while up). */
  failures: number;
  lastFailureAt: number;
  down: boolean;
  downSince: number;
  probeAttempt: number;
  probeTimer: NodeJS.Timeout | undefined;
  /** The holder trying to connect as the probe right now. */
  probing: T | undefined;
  /** Holders waiting for the instance, in the order they began to wait. */
  readonly waiting: Set<T>;
}

/**
 * Whether a failed or ended stream says its instance may be unreachable:
 * connection refused or reset, timeouts, 5xx or 429 on the upgrade, or an open
 * stream cut by the instance. 401/403 and other answers prove the instance
 * answered (they are the registration's own business).
 */
export function suggestsOutage(end: StreamEnd): boolean {
  switch (end.reason) {
    case 'network':
    case 'timeout':
      return true;
    case 'http_status':
      return end.status !== undefined && (end.status === 429 || end.status >= 500);
    case 'closed':
      return end.opened;
    default:
      return false;
  }
}

/**
 * Per-instance reachability, for fast and polite recovery from an outage.
 * While an instance is down its streams make no attempts of their own: they
 * wait here, and one of them at a time is sent as the probe, with backoff
 * between probes (so a down instance sees one upgrade every few seconds, not
 * one per stream). The first connection the instance answers ends the outage
 * and every waiting stream reopens at once (through the opening limit).
 * Holds no timer per holder: one probe timer per instance that is down.
 */
export class InstanceHealth<T> {
  private readonly outages = new Map<string, Outage<T>>();
  private stopped = false;

  constructor(
    private readonly options: InstanceHealthOptions,
    private readonly handler: InstanceHealthHandler<T>,
    private readonly now: () => number = Date.now,
  ) {}

  isDown(key: string): boolean {
    return this.outages.get(key)?.down ?? false;
  }

  /** Whether `holder` may attempt a connection now: its instance is up, or it is the probe. */
  mayConnect(key: string, holder: T): boolean {
    const outage = this.outages.get(key);
    return !outage?.down || outage.probing === holder;
  }

  /** A connection of `holder` failed as `suggestsOutage` describes (or the instance info could not be read). */
  unreachable(key: string, holder: T): void {
    const outage = this.outageOf(key);
    if (outage.down) {
      if (outage.probing === holder) {
        outage.probing = undefined;
        this.scheduleProbe(outage);
      }
      return;
    }
    const now = this.now();
    if (now - outage.lastFailureAt > OUTAGE_WINDOW_MS) outage.failures = 0;
    outage.failures += 1;
    outage.lastFailureAt = now;
    if (outage.failures < OUTAGE_THRESHOLD) return;
    outage.down = true;
    outage.downSince = now;
    outage.probeAttempt = 0;
    this.handler.instanceDown(key, holder);
  }

  /** `holder` waits for its instance (call only while it is down); a probe is scheduled if none is. */
  wait(key: string, holder: T): void {
    const outage = this.outageOf(key);
    outage.waiting.add(holder);
    this.scheduleProbe(outage);
  }

  /** The instance answered a connection (it opened, or the upgrade got a real answer): it is up. */
  reachable(key: string): void {
    const outage = this.outages.get(key);
    if (!outage) return;
    this.outages.delete(key);
    clearTimeout(outage.probeTimer);
    if (outage.down && !this.stopped) {
      this.handler.reopen(key, [...outage.waiting], this.now() - outage.downSince);
    }
  }

  /** `holder` is gone (stopped): it neither waits nor probes any more. */
  forget(key: string, holder: T): void {
    const outage = this.outages.get(key);
    if (!outage) return;
    outage.waiting.delete(holder);
    if (outage.probing === holder) {
      outage.probing = undefined;
      this.scheduleProbe(outage);
    }
  }

  waitingCount(key: string): number {
    return this.outages.get(key)?.waiting.size ?? 0;
  }

  stop(): void {
    this.stopped = true;
    for (const outage of this.outages.values()) clearTimeout(outage.probeTimer);
    this.outages.clear();
  }

  private outageOf(key: string): Outage<T> {
    let outage = this.outages.get(key);
    if (!outage) {
      outage = {
        failures: 0,
        lastFailureAt: 0,
        down: false,
        downSince: 0,
        probeAttempt: 0,
        probeTimer: undefined,
        probing: undefined,
        waiting: new Set(),
      };
      this.outages.set(key, outage);
    }
    return outage;
  }

  private scheduleProbe(outage: Outage<T>): void {
    if (!outage.down || this.stopped || outage.probeTimer || outage.probing !== undefined) return;
    if (outage.waiting.size === 0) return;
    const delay = reconnectDelay(
      outage.probeAttempt,
      this.options.probeBaseMs,
      this.options.probeMaxMs,
    );
    outage.probeAttempt += 1;
    outage.probeTimer = setTimeout(() => {
      outage.probeTimer = undefined;
      const next = outage.waiting.values().next();
      if (next.done || this.stopped) return;
      outage.waiting.delete(next.value);
      outage.probing = next.value;
      this.handler.probe(next.value);
    }, delay);
    outage.probeTimer.unref();
  }
}
