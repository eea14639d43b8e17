import { DataSource, QueryFailedError } from 'typeorm';

/** Attempts of one statement chosen as a deadlock victim before its error is passed on. */
const DEADLOCK_ATTEMPTS = 3;

/**
 * Whether the database rolled the statement back to break a deadlock:
 * MySQL/MariaDB `ER_LOCK_DEADLOCK` (1213), PostgreSQL `40P01`, SQL Server 1205.
 */
export function isDeadlock(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const driverError = error.driverError as
    { code?: unknown; errno?: unknown; number?: unknown } | undefined;
  return (
    driverError?.code === 'ER_LOCK_DEADLOCK' ||
    driverError?.errno === 1213 ||
    driverError?.code === '40P01' ||
    driverError?.number === 1205
  );
}

/**
 * Runs one single-statement write again when the database chose it as a
 * deadlock victim, as the database asks. On MariaDB a renewal's upsert (unique
 * key lock) and the listener's delete of the same row (primary key lock) do
 * deadlock now and then; each statement commits on its own, so repeating it is safe.
 */
export async function retryingDeadlocks<T>(statement: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await statement();
    } catch (error) {
      if (attempt >= DEADLOCK_ATTEMPTS || !isDeadlock(error)) throw error;
    }
  }
}

/**
 * Runs one statement written with `:named` parameters in the dialect's
 * placeholder style, again if it was chosen as a deadlock victim; returns its
 * rows (where the dialect gives them) and how many rows it affected.
 */
/** What a statement returned: rows, the affected count, and (MySQL/MariaDB) the id it inserted, 0 for none. */
export interface NamedResult {
  records: unknown;
  affected?: number;
  insertId?: number;
}

export function executeNamed(
  connection: DataSource,
  sql: string,
  parameters: Record<string, unknown>,
): Promise<NamedResult> {
  const [statement, values] = connection.driver.escapeQueryWithParameters(sql, parameters, {});
  return retryingDeadlocks(async () => {
    const runner = connection.createQueryRunner();
    try {
      const result = await runner.query(statement, values, true);
      const insertId = (result.raw as { insertId?: unknown } | undefined)?.insertId;
      return {
        records: result.records,
        affected: result.affected,
        insertId: typeof insertId === 'number' ? insertId : undefined,
      };
    } finally {
      await runner.release();
    }
  });
}
