import { Logger } from '@nestjs/common';
import { RegistrationStateRepository, RelayStamp, StateWrite } from '@app/database';
import { strictStub } from '../../../../test/support/strict-stub';
import { RegistrationStateRecorder } from './registration-state.recorder';
import { MembershipService } from '../membership/membership.service';

describe('RegistrationStateRecorder', () => {
  const NOW = 1_700_000_000_000;
  let writeStates: jest.Mock<Promise<void>, [StateWrite[], string]>;
  let writeRelayedAt: jest.Mock<Promise<void>, [RelayStamp[]]>;
  let recorder: RegistrationStateRecorder;

  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  beforeEach(() => {
    jest.useFakeTimers({ now: NOW });
    writeStates = jest.fn().mockResolvedValue(undefined);
    writeRelayedAt = jest.fn().mockResolvedValue(undefined);
    recorder = new RegistrationStateRecorder(
      strictStub<RegistrationStateRepository>('RegistrationStateRepository', {
        writeStates,
        writeRelayedAt,
      }),
      strictStub<MembershipService>('MembershipService', { nodeId: 'host-42-0a1b2c3d' }),
    );
  });

  afterEach(() => jest.useRealTimers());

  it('writes only the latest state of each registration since the last write, in one call, with its holder', async () => {
    recorder.record(1, 'connecting');
    jest.advanceTimersByTime(5);
    recorder.record(1, 'streaming', { endpointInUse: 'user' });
    recorder.record(2, 'connecting');
    await recorder.flush();
    expect(writeStates).toHaveBeenCalledTimes(1);
    expect(writeStates.mock.calls[0]).toEqual([
      [
        { id: 1, state: 'streaming', since: NOW + 5, lastError: undefined, endpointInUse: 'user' },
        {
          id: 2,
          state: 'connecting',
          since: NOW + 5,
          lastError: undefined,
          endpointInUse: undefined,
        },
      ],
      'host-42-0a1b2c3d',
    ]);
    expect(writeRelayedAt).not.toHaveBeenCalled();
  });

  it('writes nothing for a state entered again; an error in the same state keeps its start', async () => {
    recorder.record(1, 'retrying', { lastError: 'first' });
    await recorder.flush();
    recorder.record(1, 'retrying');
    await recorder.flush();
    expect(writeStates).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(100);
    recorder.record(1, 'retrying', { lastError: 'second' });
    await recorder.flush();
    expect(writeStates.mock.calls[1][0]).toEqual([
      { id: 1, state: 'retrying', since: undefined, lastError: 'second', endpointInUse: undefined },
    ]);
  });

  it('carries the last error of a pending state into the next one (it stays the last error)', async () => {
    recorder.record(1, 'retrying', { lastError: 'closed with code 1006' });
    recorder.record(1, 'streaming');
    await recorder.flush();
    expect(writeStates.mock.calls[0][0]).toEqual([
      {
        id: 1,
        state: 'streaming',
        since: NOW,
        lastError: 'closed with code 1006',
        endpointInUse: undefined,
      },
    ]);
  });

  it('writes relay times, latest per registration; a forgotten registration writes nothing', async () => {
    recorder.relayed(1, NOW + 1);
    recorder.relayed(1, NOW + 2);
    recorder.relayed(2, NOW + 3);
    recorder.record(2, 'streaming');
    recorder.forget(2);
    await recorder.flush();
    expect(writeStates).not.toHaveBeenCalled();
    expect(writeRelayedAt.mock.calls[0][0]).toEqual([{ id: 1, at: NOW + 2 }]);
  });

  it('keeps what a failed write held for the next one, unless newer changes came meanwhile', async () => {
    writeStates.mockRejectedValueOnce(new Error('database down'));
    recorder.record(1, 'connecting');
    recorder.record(2, 'connecting');
    await recorder.flush();
    recorder.record(2, 'streaming');
    await recorder.flush();
    expect(writeStates.mock.calls[1][0].map((w) => `${w.id} ${w.state}`)).toEqual([
      '1 connecting',
      '2 streaming',
    ]);
  });

  it('writes what is left at shutdown', async () => {
    recorder.onModuleInit();
    recorder.record(3, 'streaming');
    await recorder.beforeApplicationShutdown();
    expect(writeStates).toHaveBeenCalledTimes(1);
  });

  it('keeps the start of a state entered again before it was written', async () => {
    recorder.record(1, 'connecting');
    jest.advanceTimersByTime(7);
    recorder.record(1, 'connecting', { lastError: 'handshake timed out' });
    recorder.record(2, 'streaming');
    jest.advanceTimersByTime(7);
    recorder.record(2, 'streaming', { endpointInUse: 'user:notification' });
    await recorder.flush();
    expect(writeStates.mock.calls[0][0]).toEqual([
      {
        id: 1,
        state: 'connecting',
        since: NOW,
        lastError: 'handshake timed out',
        endpointInUse: undefined,
      },
      {
        id: 2,
        state: 'streaming',
        since: NOW + 7,
        lastError: undefined,
        endpointInUse: 'user:notification',
      },
    ]);
  });

  it('writes once a second while running, and no more after shutdown', async () => {
    recorder.onModuleInit();
    recorder.record(1, 'streaming');
    await jest.advanceTimersByTimeAsync(999);
    expect(writeStates).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(1);
    expect(writeStates).toHaveBeenCalledTimes(1);
    recorder.relayed(1, NOW + 1_500);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(writeRelayedAt.mock.calls).toEqual([[[{ id: 1, at: NOW + 1_500 }]]]);
    await recorder.beforeApplicationShutdown();
    recorder.record(1, 'retrying');
    await jest.advanceTimersByTimeAsync(5_000);
    expect(writeStates).toHaveBeenCalledTimes(1);
  });

  it('runs one write at a time', async () => {
    let release!: () => void;
    writeStates.mockImplementationOnce(() => new Promise<void>((resolve) => (release = resolve)));
    recorder.record(1, 'connecting');
    const first = recorder.flush();
    recorder.record(2, 'connecting');
    const second = recorder.flush();
    expect(writeStates).toHaveBeenCalledTimes(1);
    release();
    await Promise.all([first, second]);
    await recorder.flush();
    expect(writeStates.mock.calls.map(([writes]) => writes.map((w) => w.id))).toEqual([[1], [2]]);
  });

  it('after a failed write keeps what it held, newer relay times winning, and nothing of a forgotten registration', async () => {
    writeRelayedAt.mockRejectedValueOnce(new Error('database down'));
    recorder.record(1, 'streaming');
    recorder.record(2, 'streaming');
    recorder.record(3, 'streaming');
    recorder.relayed(1, NOW + 1);
    recorder.relayed(2, NOW + 2);
    recorder.relayed(3, NOW + 3);
    let release!: () => void;
    writeStates.mockImplementationOnce(() => new Promise<void>((resolve) => (release = resolve)));
    const failing = recorder.flush();
    // while that write is under way
    recorder.relayed(2, NOW + 9);
    recorder.forget(1);
    release();
    await failing;
    await recorder.flush();
    expect(writeStates.mock.calls[1][0].map((w) => w.id)).toEqual([2, 3]);
    // 3's relay time, untouched meanwhile, is written again as it was
    expect(writeRelayedAt.mock.calls[1][0]).toEqual([
      { id: 2, at: NOW + 9 },
      { id: 3, at: NOW + 3 },
    ]);
  });
});
