import { Logger } from '@nestjs/common';
import { DatabaseUnavailableException, describeDatabaseError } from '../http/database-errors';

/** Runs a repository call; any failure of it is logged (without values) and answered as 503. */
export async function callDatabase<T>(
  logger: Logger,
  action: string,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    logger.error(`${action}: database unavailable (${describeDatabaseError(error)})`);
    throw new DatabaseUnavailableException();
  }
}
