import type { INestApplicationContext } from '@nestjs/common';
import { GracefulShutdown } from './graceful-shutdown';

/** An app whose close() records itself in `closed`, optionally failing or never finishing. */
function app(
  name: string,
  closed: string[],
  behaviour: 'ok' | 'fail' | 'hang' = 'ok',
): INestApplicationContext {
  return {
    close: () => {
      closed.push(name);
      if (behaviour === 'fail') return Promise.reject(new Error(`${name} failed`));
      if (behaviour === 'hang') return new Promise<void>(() => undefined);
      return Promise.resolve();
    },
  } as unknown as INestApplicationContext;
}

describe('GracefulShutdown', () => {
  let exit: jest.SpyInstance;
  let exited: Promise<number>;

  beforeEach(() => {
    // fake timers everywhere: a real shutdown deadline left running would exit the test process later
    jest.useFakeTimers();
    exited = new Promise((resolve) => {
      exit = jest.spyOn(process, 'exit').mockImplementation(((code?: number) => {
        resolve(code ?? 0);
      }) as typeof process.exit);
    });
  });

  afterEach(() => {
    jest.clearAllTimers();
    jest.useRealTimers();
    exit.mockRestore();
    process.removeAllListeners('SIGTERM');
    process.removeAllListeners('SIGINT');
  });

  it('on SIGTERM closes the apps in the order tracked, then runs after, and exits 0', async () => {
    const closed: string[] = [];
    const shutdown = new GracefulShutdown({ timeoutMs: 60_000 });
    shutdown.track(app('api', closed));
    shutdown.track(app('listener', closed));
    shutdown.after = async () => void closed.push('database');

    process.emit('SIGTERM', 'SIGTERM');
    expect(await exited).toBe(0);
    expect(closed).toEqual(['api', 'listener', 'database']);
  });

  it('handles SIGINT the same way, once however many signals come', async () => {
    const closed: string[] = [];
    const shutdown = new GracefulShutdown({ timeoutMs: 60_000 });
    shutdown.track(app('api', closed));
    process.emit('SIGINT', 'SIGINT');
    process.emit('SIGTERM', 'SIGTERM');
    expect(await exited).toBe(0);
    expect(closed).toEqual(['api']);
    expect(exit).toHaveBeenCalledTimes(1);
  });

  it('still closes the other apps and stops the database when one fails to close, then exits 1', async () => {
    const closed: string[] = [];
    const shutdown = new GracefulShutdown({ timeoutMs: 60_000 });
    shutdown.track(app('api', closed, 'fail'));
    shutdown.track(app('listener', closed));
    shutdown.after = async () => void closed.push('database');
    process.emit('SIGTERM', 'SIGTERM');
    expect(await exited).toBe(1);
    expect(closed).toEqual(['api', 'listener', 'database']);
  });

  it('exits 1 when stopping the database fails', async () => {
    const shutdown = new GracefulShutdown({ timeoutMs: 60_000 });
    shutdown.after = () => Promise.reject(new Error('pg_ctl failed'));
    process.emit('SIGTERM', 'SIGTERM');
    expect(await exited).toBe(1);
  });

  it('exits 1 when closing takes longer than timeoutMs', async () => {
    const closed: string[] = [];
    const shutdown = new GracefulShutdown({ timeoutMs: 5_000 });
    shutdown.track(app('api', closed, 'hang'));
    process.emit('SIGTERM', 'SIGTERM');
    jest.advanceTimersByTime(4_999);
    expect(exit).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(await exited).toBe(1);
  });

  it('closes at once an app that finishes starting after the signal', async () => {
    const closed: string[] = [];
    const shutdown = new GracefulShutdown({ timeoutMs: 60_000 });
    shutdown.track(app('api', closed));
    process.emit('SIGTERM', 'SIGTERM');
    shutdown.track(app('late', closed));
    expect(closed).toEqual(['api', 'late']);
    expect(await exited).toBe(0);
  });
});
