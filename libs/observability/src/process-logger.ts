import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { Settings } from '@app/config';
import { REDACTED_LOG_PATHS } from '@app/security';

let shared: Logger | undefined;

/** Whether lines are written for a person: LOG_FORMAT, or `auto` and a terminal on standard output. */
export function logsArePretty(settings: Pick<Settings, 'logFormat'>, isTerminal = process.stdout.isTTY === true): boolean {
  return settings.logFormat === 'pretty' || (settings.logFormat === 'auto' && isTerminal);
}

/**
 * The process's one pino logger: the start-up lines written before Nest runs,
 * every app's Nest logger and the request lines all go through it, so a
 * process writes one format. In a terminal the lines are formatted by
 * pino-pretty in this thread (synchronously: a line printed just before an
 * exit is not lost); otherwise one JSON object per line with an ISO time.
 */
export function processLogger(settings: Pick<Settings, 'logLevel' | 'logFormat'>): Logger {
  if (shared) return shared;
  const options: pino.LoggerOptions = {
    level: settings.logLevel,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
  };
  shared = logsArePretty(settings)
    ? pino(
        options,
        pretty({
          sync: true,
          colorize: process.stdout.isTTY === true,
          translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'",
          ignore: 'pid,hostname,context,req,res,responseTime',
          messageFormat: '{if context}{context}: {end}{msg}',
          singleLine: true,
        }),
      )
    : pino(options);
  return shared;
}
