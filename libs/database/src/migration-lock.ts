import { DataSource } from 'typeorm';

const LOCK_NAME = 'stream_listener_migrations';
const LOCK_KEY = 727_001; // pg advisory locks take a number

/**
 * Holds a database-wide lock while migrating, so an api and a listener that
 * start together do not both apply the same migration. The lock statements are
 * the only dialect-specific SQL in the project; the migrations themselves are portable.
 */
export async function withMigrationLock<T>(dataSource: DataSource, work: () => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  const type = dataSource.options.type;
  try {
    if (type === 'postgres') await runner.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    else if (type === 'mysql' || type === 'mariadb') await runner.query('SELECT GET_LOCK(?, 60)', [LOCK_NAME]);
    else if (type === 'mssql') {
      await runner.query(
        "EXEC sp_getapplock @Resource = @0, @LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = 60000",
        [LOCK_NAME],
      );
    }
    return await work();
  } finally {
    try {
      if (type === 'postgres') await runner.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
      else if (type === 'mysql' || type === 'mariadb') await runner.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME]);
      else if (type === 'mssql') {
        await runner.query("EXEC sp_releaseapplock @Resource = @0, @LockOwner = 'Session'", [LOCK_NAME]);
      }
    } finally {
      await runner.release();
    }
  }
}
