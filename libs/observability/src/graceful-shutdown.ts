import { INestApplicationContext, Logger } from '@nestjs/common';

/** Work to do before an app closes, and the longest it may take. */
export interface BeforeClose {
  run: () => Promise<void>;
  budgetMs: number;
}

/**
 * Closes the tracked apps on SIGTERM/SIGINT (in the order they were tracked),
 * then runs `after`, and exits 0; exits 1 if
 * that takes longer than `timeoutMs`. Installed before the first app starts, so
 * a signal during start-up is handled too. Used instead of Nest's
 * enableShutdownHooks, which re-raises the signal after closing (exit code 143)
 * and cannot order several apps in one process.
 */
export class GracefulShutdown {
  private readonly logger = new Logger('Shutdown');
  private readonly apps: { app: INestApplicationContext; before?: BeforeClose }[] = [];
  private closing = false;

  /** Runs after the apps are closed (stopping the embedded database); set once the database is ready. */
  after: (() => Promise<void>) | undefined;

  constructor(private readonly options: { timeoutMs: number }) {
    const onSignal = (signal: NodeJS.Signals) => this.shutdown(signal);
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  /**
   * Adds an app that has started; one that finishes starting after the signal
   * is closed right away. `before` runs first (the listener's handover), within
   * its own budget, which the shutdown timeout does not count.
   */
  track(app: INestApplicationContext, before?: BeforeClose): void {
    if (this.closing) void app.close().catch(() => undefined);
    else this.apps.push({ app, before });
  }

  private shutdown(signal: NodeJS.Signals): void {
    if (this.closing) return;
    this.closing = true;
    this.logger.log(`${signal} received, shutting down`);
    const budget =
      this.options.timeoutMs + this.apps.reduce((sum, a) => sum + (a.before?.budgetMs ?? 0), 0);
    const timer = setTimeout(() => {
      this.logger.error(`shutdown did not finish within ${budget} ms, exiting`);
      process.exit(1);
    }, budget);
    timer.unref();
    void (async () => {
      let code = 0;
      for (const { app, before } of this.apps) {
        try {
          // awaited only when there is one, so an app tracked late is closed in order, at once
          if (before) await before.run();
          await app.close();
        } catch (error) {
          code = 1;
          this.logger.error(`error while closing: ${(error as Error).message}`);
        }
      }
      try {
        await this.after?.();
      } catch (error) {
        code = 1;
        this.logger.error(`error while stopping the database: ${(error as Error).message}`);
      }
      this.logger.log('shutdown complete');
      process.exit(code);
    })();
  }
}
