import { INestApplicationContext, Logger } from '@nestjs/common';

/**
 * Closes the given apps on SIGTERM/SIGINT (in order), then runs `after`
 * (stopping the embedded database), and exits 0; exits 1 if that takes longer
 * than `timeoutMs`. Used instead of Nest's enableShutdownHooks, which re-raises
 * the signal after closing (exit code 143) and cannot order several apps in one process.
 */
export function closeOnSignals(
  apps: INestApplicationContext[],
  options: { timeoutMs: number; after?: () => Promise<void> },
): void {
  const logger = new Logger('Shutdown');
  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    logger.log(`${signal} received, shutting down`);
    const timer = setTimeout(() => {
      logger.error(`shutdown did not finish within ${options.timeoutMs} ms, exiting`);
      process.exit(1);
    }, options.timeoutMs);
    timer.unref();
    void (async () => {
      let code = 0;
      for (const app of apps) {
        try {
          await app.close();
        } catch (error) {
          code = 1;
          logger.error(`error while closing: ${(error as Error).message}`);
        }
      }
      try {
        await options.after?.();
      } catch (error) {
        code = 1;
        logger.error(`error while stopping the database: ${(error as Error).message}`);
      }
      logger.log('shutdown complete');
      process.exit(code);
    })();
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
