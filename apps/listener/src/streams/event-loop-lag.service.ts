import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

/** The event loop is behind when its p99 delay over a window exceeds this. */
export const LAG_THRESHOLD_MS = 100;
/** How often the delay is sampled; an idle loop reads this much (the histogram times its own timer). */
const RESOLUTION_MS = 20;
/** How often the delay is judged (and the histogram started afresh). */
const WINDOW_MS = 500;
/** While behind, new handshakes get this part of their limit. */
export const OPENING_WHILE_BEHIND = 0.25;

/**
 * Whether this process's event loop is falling behind. Opening a stream
 * over TLS costs a few milliseconds of this one thread; thousands at once
 * (a takeover, an instance coming back) left relayed events, callback answers
 * and heartbeats waiting for seconds, so that callbacks timed out and were
 * stored for retry and heartbeats came late. While the loop is behind, new
 * handshakes are let in at a quarter of their limit, so relaying keeps its turn.
 */
@Injectable()
export class EventLoopLagService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(EventLoopLagService.name);
  private histogram: IntervalHistogram | undefined;
  private timer: NodeJS.Timeout | undefined;
  private behindNow = false;
  private lastSaidAt = 0;

  onModuleInit(): void {
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.histogram.enable();
    this.timer = setInterval(() => this.judge(), WINDOW_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
    this.histogram?.disable();
  }

  /** Whether the loop was behind in the last window. */
  get behind(): boolean {
    return this.behindNow;
  }

  /** The part of a handshake limit to use now: all of it, or a quarter (at least one) while behind. */
  openingLimit(limit: number): number {
    return this.behindNow ? Math.max(1, Math.ceil(limit * OPENING_WHILE_BEHIND)) : limit;
  }

  private judge(): void {
    if (!this.histogram) return;
    // no sample yet (just enabled): nothing to judge
    if (this.histogram.count === 0) return;
    const p99Ms = this.histogram.percentile(99) / 1e6 - RESOLUTION_MS;
    this.histogram.reset();
    this.judgeWindow(p99Ms);
  }

  /** Takes the verdict of one window whose p99 delay (beyond the sampling interval) was `p99Ms`. */
  judgeWindow(p99Ms: number): void {
    const behind = p99Ms > LAG_THRESHOLD_MS;
    if (behind !== this.behindNow && Date.now() - this.lastSaidAt > 10_000) {
      this.lastSaidAt = Date.now();
      this.logger.log(
        behind
          ? `event loop behind (p99 delay ${Math.round(p99Ms)} ms): new stream handshakes at a quarter of their limit`
          : 'event loop caught up: stream handshakes at their full limit again',
      );
    }
    this.behindNow = behind;
  }
}
