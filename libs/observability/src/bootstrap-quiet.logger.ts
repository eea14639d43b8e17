import { Injectable } from '@nestjs/common';
import { Logger, PinoLogger } from 'nestjs-pino';

/**
 * Nest's own start-up lines (every module initialised, every route mapped,
 * "application successfully started": some 25 lines per app) at debug: the
 * one line an operator needs, where the app listens, is written by the app.
 */
const BOOTSTRAP_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication']);

/** The app's Nest logger: nestjs-pino's, with the framework's bootstrap lines moved to debug. */
@Injectable()
export class BootstrapQuietLogger extends Logger {
  constructor(logger: PinoLogger) {
    super(logger, {});
  }

  override log(message: unknown, ...optionalParams: unknown[]): void {
    const context = optionalParams[optionalParams.length - 1];
    if (typeof context === 'string' && BOOTSTRAP_CONTEXTS.has(context)) super.debug(message, ...optionalParams);
    else super.log(message, ...optionalParams);
  }
}
