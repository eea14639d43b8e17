import { Logger } from '@nestjs/common';
import { CallbackDispatcher } from '@app/callback';
import { Settings } from '@app/config';
import { CursorWrite, RegistrationRepository } from '@app/database';
import { strictStub } from '../../../../test/support/strict-stub';
import { CatchUpCursorsService } from './catch-up-cursors.service';

const settings = { listener: { pollIntervalMs: 5_000 } } as unknown as Settings;

describe('CatchUpCursorsService', () => {
  let settle: (registrationId: number, objectId: string) => void;
  let stored: CursorWrite[][];
  let updateCursors: jest.Mock<Promise<void>, [CursorWrite[]]>;
  let dispatcherShutdown: jest.Mock<Promise<void>, []>;
  let service: CatchUpCursorsService;

  beforeAll(() => {
    Logger.overrideLogger(false);
  });
  afterAll(() => {
    Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose']);
  });

  beforeEach(() => {
    stored = [];
    updateCursors = jest.fn((writes: CursorWrite[]) => {
      stored.push(writes);
      return Promise.resolve();
    });
    dispatcherShutdown = jest.fn(() => Promise.resolve());
    service = new CatchUpCursorsService(
      strictStub<CallbackDispatcher>('CallbackDispatcher', {
        onSettled: (listener) => void (settle = listener),
        beforeApplicationShutdown: dispatcherShutdown,
      }),
      strictStub<RegistrationRepository>('RegistrationRepository', { updateCursors }),
      settings,
    );
    service.book.adopt(1, 'notifications', '10');
    service.book.adopt(2, 'notifications', '20');
  });

  afterEach(() => jest.useRealTimers());

  /** Registration `id` relays `objectId` and the dispatcher reports it safe. */
  const relayed = (id: number, objectId: string) => {
    service.book.dispatched(id, objectId);
    settle(id, objectId);
  };

  it('moves a cursor when the dispatcher reports its event safe, and stores what moved', async () => {
    relayed(1, '11');
    await service.flush();
    expect(stored).toEqual([[{ id: 1, cursor: '11' }]]);
    await service.flush();
    expect(stored).toHaveLength(1);
  });

  it('writes nothing when no cursor moved', async () => {
    await service.flush();
    expect(updateCursors).not.toHaveBeenCalled();
  });

  it('stores the cursors again at the next flush when a write failed', async () => {
    updateCursors.mockRejectedValueOnce(new Error('db down'));
    relayed(1, '12');
    await service.flush();
    relayed(2, '21');
    await service.flush();
    expect(updateCursors.mock.calls[0]).toEqual([[{ id: 1, cursor: '12' }]]);
    expect(stored).toEqual([
      [
        { id: 1, cursor: '12' },
        { id: 2, cursor: '21' },
      ],
    ]);
  });

  it('runs one flush at a time', async () => {
    let release!: () => void;
    updateCursors.mockImplementationOnce(
      (writes) =>
        new Promise<void>((resolve) => {
          stored.push(writes);
          release = resolve;
        }),
    );
    relayed(1, '13');
    const first = service.flush();
    relayed(2, '22');
    const second = service.flush();
    expect(updateCursors).toHaveBeenCalledTimes(1);
    release();
    await Promise.all([first, second]);
    await service.flush();
    expect(stored).toEqual([[{ id: 1, cursor: '13' }], [{ id: 2, cursor: '22' }]]);
  });

  it('stores moved cursors every poll interval once started', async () => {
    jest.useFakeTimers();
    service.onApplicationBootstrap();
    relayed(1, '14');
    await jest.advanceTimersByTimeAsync(4_999);
    expect(stored).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(stored).toEqual([[{ id: 1, cursor: '14' }]]);
    relayed(2, '23');
    await jest.advanceTimersByTimeAsync(5_000);
    expect(stored).toHaveLength(2);
    await service.beforeApplicationShutdown();
    relayed(1, '15');
    await jest.advanceTimersByTimeAsync(20_000);
    expect(stored).toHaveLength(2);
  });

  it('at shutdown, stores the cursors of what the dispatcher settled while it stopped', async () => {
    dispatcherShutdown.mockImplementationOnce(() => {
      relayed(1, '16');
      return Promise.resolve();
    });
    await service.beforeApplicationShutdown();
    expect(stored).toEqual([[{ id: 1, cursor: '16' }]]);
  });

  it('at shutdown, waits for a flush in flight before the last one', async () => {
    let release!: () => void;
    updateCursors.mockImplementationOnce(
      (writes) =>
        new Promise<void>((resolve) => {
          stored.push(writes);
          release = resolve;
        }),
    );
    relayed(1, '17');
    void service.flush();
    dispatcherShutdown.mockImplementationOnce(() => {
      relayed(2, '24');
      return Promise.resolve();
    });
    const stopping = service.beforeApplicationShutdown();
    await Promise.resolve();
    release();
    await stopping;
    expect(stored).toEqual([[{ id: 1, cursor: '17' }], [{ id: 2, cursor: '24' }]]);
  });
});
