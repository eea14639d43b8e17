import { QueryFailedError } from 'typeorm';
import { isDeadlock, retryingDeadlocks } from './deadlock-retry';

function failed(driverError: Record<string, unknown>): QueryFailedError {
  return new QueryFailedError(
    'DELETE …',
    [],
    Object.assign(new Error('driver error'), driverError),
  );
}

const mysqlDeadlock = failed({ code: 'ER_LOCK_DEADLOCK', errno: 1213 });

describe('isDeadlock', () => {
  it.each([
    ['MySQL/MariaDB by code', { code: 'ER_LOCK_DEADLOCK' }],
    ['MySQL/MariaDB by errno', { errno: 1213 }],
    ['PostgreSQL', { code: '40P01' }],
    ['SQL Server', { number: 1205 }],
  ])('recognises a deadlock victim of %s', (_name, driverError) => {
    expect(isDeadlock(failed(driverError))).toBe(true);
  });

  it.each([
    ['a duplicate key', failed({ code: 'ER_DUP_ENTRY', errno: 1062 })],
    ['a lock wait timeout', failed({ code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 })],
    ['a PostgreSQL serialization failure', failed({ code: '40001' })],
    ['a lost connection', Object.assign(new Error('gone'), { code: 'ER_LOCK_DEADLOCK' })],
    ['nothing', undefined],
  ])('does not take %s for one', (_name, error) => {
    expect(isDeadlock(error)).toBe(false);
  });
});

describe('retryingDeadlocks', () => {
  it('runs the statement again while it is a deadlock victim, up to three attempts', async () => {
    const statement = jest
      .fn<Promise<string>, []>()
      .mockRejectedValueOnce(mysqlDeadlock)
      .mockRejectedValueOnce(mysqlDeadlock)
      .mockResolvedValueOnce('done');
    await expect(retryingDeadlocks(statement)).resolves.toBe('done');
    expect(statement).toHaveBeenCalledTimes(3);
  });

  it('passes the third deadlock on', async () => {
    const statement = jest.fn<Promise<string>, []>().mockRejectedValue(mysqlDeadlock);
    await expect(retryingDeadlocks(statement)).rejects.toBe(mysqlDeadlock);
    expect(statement).toHaveBeenCalledTimes(3);
  });

  it('passes any other error on at once', async () => {
    const duplicate = failed({ code: 'ER_DUP_ENTRY' });
    const statement = jest.fn<Promise<string>, []>().mockRejectedValue(duplicate);
    await expect(retryingDeadlocks(statement)).rejects.toBe(duplicate);
    expect(statement).toHaveBeenCalledTimes(1);
  });

  it('runs a statement that succeeds once', async () => {
    const statement = jest.fn<Promise<number>, []>().mockResolvedValue(7);
    await expect(retryingDeadlocks(statement)).resolves.toBe(7);
    expect(statement).toHaveBeenCalledTimes(1);
  });
});
