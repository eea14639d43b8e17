import { Logger } from '@nestjs/common';
import { Settings } from '@app/config';
import { Registration, RegistrationStateRepository, RemovalReason } from '@app/database';
import { callOrder, strictStub } from '../../../../test/support/strict-stub';
import { LifecycleEventsService } from './lifecycle-events.service';
import { LifecycleMetrics } from './lifecycle.metrics';
import { RegistrationRemovalService } from './registration-removal.service';
import { RegistrationStateRecorder } from './registration-state.recorder';

const settings = { callback: { retryDeadlineHours: 24 } } as Settings;

function row(id: number): Registration {
  return {
    id,
    lastUpdate: 1_000 + id,
    instanceUrl: 'https://m.example',
    appId: 'app',
    tag: `t${id}`,
    accessToken: `token-${id}`,
    appSecretHash: 'sha256:x',
    callbackUrl: 'https://cb.example/x',
    endpoint: null,
  };
}

describe('RegistrationRemovalService', () => {
  const NOW = 1_700_000_000_000;
  let forget: jest.Mock;
  let markRemoved: jest.Mock<Promise<boolean>>;
  let markExpired: jest.Mock<Promise<number[]>>;
  let deleteRemovedBefore: jest.Mock<Promise<number>>;
  let registrationRemoved: jest.Mock<boolean, [Registration, RemovalReason, number?]>;
  let registrationsRemoved: jest.Mock;
  let service: RegistrationRemovalService;

  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  beforeEach(() => {
    jest.useFakeTimers({ now: NOW });
    forget = jest.fn();
    markRemoved = jest.fn().mockResolvedValue(true);
    markExpired = jest.fn().mockImplementation(async (ids: number[]) => ids.slice(0, 1));
    deleteRemovedBefore = jest.fn().mockResolvedValue(0);
    registrationRemoved = jest.fn().mockReturnValue(true);
    registrationsRemoved = jest.fn();
    service = new RegistrationRemovalService(
      strictStub<RegistrationStateRepository>('RegistrationStateRepository', {
        markRemoved,
        markExpired,
        deleteRemovedBefore,
      }),
      strictStub<RegistrationStateRecorder>('RegistrationStateRecorder', { forget }),
      strictStub<LifecycleEventsService>('LifecycleEventsService', { registrationRemoved }),
      strictStub<LifecycleMetrics>('LifecycleMetrics', { registrationsRemoved }),
      settings,
    );
  });

  afterEach(() => jest.useRealTimers());

  it('forgets pending states, writes the removal as read, then counts it and tells the app, in that order', async () => {
    await expect(service.remove(row(3), 'scope', 'the upgrade answered HTTP 403')).resolves.toBe(
      true,
    );
    expect(callOrder({ forget, markRemoved, registrationsRemoved, registrationRemoved })).toEqual([
      'forget',
      'markRemoved',
      'registrationsRemoved',
      'registrationRemoved',
    ]);
    expect(markRemoved).toHaveBeenCalledWith(
      3,
      1_003,
      'scope',
      NOW,
      'the upgrade answered HTTP 403',
    );
    expect(registrationsRemoved).toHaveBeenCalledWith('scope');
    expect(registrationRemoved).toHaveBeenCalledWith(row(3), 'scope', NOW);
  });

  it('neither counts nor announces a row renewed meanwhile, nor one the database could not mark', async () => {
    markRemoved.mockResolvedValueOnce(false).mockRejectedValueOnce(new Error('down'));
    await expect(service.remove(row(1), 'revoked', 'x')).resolves.toBe(false);
    await expect(service.remove(row(1), 'revoked', 'x')).resolves.toBe(false);
    expect(registrationsRemoved).not.toHaveBeenCalled();
    expect(registrationRemoved).not.toHaveBeenCalled();
  });

  it('expires in one batch, counting and announcing only what it marked', async () => {
    const known = new Map([1, 2].map((id) => [id, row(id)]));
    await expect(service.expire([1, 2], NOW - 5, (id) => known.get(id))).resolves.toEqual([1]);
    expect(markExpired).toHaveBeenCalledWith([1, 2], NOW - 5, NOW);
    expect(registrationsRemoved).toHaveBeenCalledWith('expired', 1);
    expect(registrationRemoved.mock.calls.map(([r, reason]) => [r.id, reason])).toEqual([
      [1, 'expired'],
    ]);
  });

  it('records a 410 as removed (gone) and announces it to nobody', async () => {
    await expect(service.gone(row(9))).resolves.toBe(true);
    expect(forget).toHaveBeenCalledWith(9);
    expect(markRemoved).toHaveBeenCalledWith(9, 1_009, 'gone', NOW, 'the callback answered 410 Gone');
    expect(registrationsRemoved).toHaveBeenCalledWith('gone');
    expect(registrationRemoved).not.toHaveBeenCalled();
  });

  it('purges removed rows older than the retry deadline', async () => {
    await service.purge(NOW);
    expect(deleteRemovedBefore).toHaveBeenCalledWith(NOW - 24 * 3_600_000);
  });

  it('expires nothing it could not mark, forgetting the pending states of all it tried', async () => {
    markExpired.mockResolvedValueOnce([]);
    await expect(service.expire([4, 5], NOW - 5, () => undefined)).resolves.toEqual([]);
    expect(forget.mock.calls).toEqual([[4], [5]]);
    expect(registrationsRemoved).not.toHaveBeenCalled();
  });

  it('counts every expiry it marked but announces only those of registrations it knows', async () => {
    markExpired.mockResolvedValueOnce([1, 2]);
    await service.expire([1, 2], NOW - 5, (id) => (id === 2 ? row(2) : undefined));
    expect(registrationsRemoved).toHaveBeenCalledWith('expired', 2);
    expect(registrationRemoved.mock.calls.map(([r]) => r.id)).toEqual([2]);
  });
});
