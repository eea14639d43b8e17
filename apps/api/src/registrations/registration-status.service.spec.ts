import { ForbiddenException, Logger, NotFoundException } from '@nestjs/common';
import { AppConfigService, Settings } from '@app/config';
import {
  PushSubscription,
  PushSubscriptionRepository,
  RegistrationStateRepository,
  RegistrationStatusRecord,
} from '@app/database';
import { DatabaseUnavailableException } from '../http/database-errors';
import { strictStub } from '../../../../test/support/strict-stub';
import { StatusRequestDto } from './dto/registration-status.dto';
import { RegistrationMetrics } from './registration-metrics.service';
import { RegistrationRules } from './registration-rules';
import { RegistrationStatusService } from './registration-status.service';

const T = Date.UTC(2026, 11, 1, 9, 0, 0);
const HOUR = 3_600_000;

function request(): StatusRequestDto {
  return Object.assign(new StatusRequestDto(), {
    instance_url: 'https://Mastodon.example/',
    tag: 'tag-1',
    app_id: 'app.one',
    app_secret: 'app-secret',
  });
}

function record(overrides: Partial<RegistrationStatusRecord> = {}): RegistrationStatusRecord {
  return {
    id: 1,
    lastUpdate: T,
    endpoint: null,
    state: 'streaming',
    stateSince: T + 1_000,
    lastError: null,
    lastRelayedAt: null,
    heldBy: 'host:1',
    endpointInUse: 'user:notification',
    removalReason: null,
    appSecretHash: 'sha256:secret-hash',
    ...overrides,
  };
}

describe('RegistrationStatusService', () => {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  let authenticateApp: jest.Mock;
  let findStatusByKey: jest.Mock<Promise<RegistrationStatusRecord | undefined>>;
  let recordOutcome: jest.Mock;
  let instanceEndpoint: string | undefined;
  let findByRegistration: jest.Mock<Promise<PushSubscription | undefined>>;
  let service: RegistrationStatusService;

  beforeEach(() => {
    authenticateApp = jest.fn().mockReturnValue({ secret: 'app-secret' });
    findStatusByKey = jest.fn().mockResolvedValue(record());
    recordOutcome = jest.fn();
    instanceEndpoint = undefined;
    findByRegistration = jest.fn().mockResolvedValue(undefined);
    service = new RegistrationStatusService(
      strictStub<RegistrationRules>('rules', { authenticateApp }),
      strictStub<RegistrationStateRepository>('states', { findStatusByKey }),
      strictStub<AppConfigService>('config', {
        findInstance: () => ({ entry: { endpoint: instanceEndpoint as never }, exact: true }),
      }),
      strictStub<RegistrationMetrics>('metrics', { record: recordOutcome }),
      { registrationTtlHours: 72 } as Settings,
      strictStub<PushSubscriptionRepository>('pushSubscriptions', { findByRegistration }),
    );
  });

  it('answers the recorded state by the normalized key, with times in ISO 8601 and never the token or the secret hash', async () => {
    const answer = await service.status(request());
    expect(authenticateApp).toHaveBeenCalledWith('app.one', 'app-secret');
    expect(findStatusByKey).toHaveBeenCalledWith({
      instanceUrl: 'https://mastodon.example',
      appId: 'app.one',
      tag: 'tag-1',
    });
    expect(answer).toEqual({
      state: 'streaming',
      since: new Date(T + 1_000).toISOString(),
      endpoint: 'user:notification',
      transport: 'stream',
      expiresAt: new Date(T + 72 * HOUR).toISOString(),
      lastRelayedAt: null,
      lastError: null,
      removalReason: null,
    });
    expect(JSON.stringify(answer)).not.toContain('sha256');
    expect(recordOutcome).toHaveBeenCalledWith('status', 'found');
  });

  it('says connecting since the registration for a row the listener has not recorded yet; endpoint from the row, else the instance', async () => {
    findStatusByKey.mockResolvedValue(
      record({ state: null, stateSince: null, endpointInUse: null, endpoint: 'direct' }),
    );
    expect(await service.status(request())).toMatchObject({
      state: 'connecting',
      since: new Date(T).toISOString(),
      endpoint: 'direct',
    });
    findStatusByKey.mockResolvedValue(record({ state: null, endpointInUse: null }));
    instanceEndpoint = 'user';
    expect((await service.status(request())).endpoint).toBe('user');
    instanceEndpoint = undefined;
    expect((await service.status(request())).endpoint).toBeNull();
  });

  it('gives the reason of a removed registration only', async () => {
    findStatusByKey.mockResolvedValue(
      record({ state: 'removed', removalReason: 'revoked', lastRelayedAt: T + 5 }),
    );
    expect(await service.status(request())).toMatchObject({
      state: 'removed',
      removalReason: 'revoked',
      lastRelayedAt: new Date(T + 5).toISOString(),
    });
    findStatusByKey.mockResolvedValue(record({ state: 'retrying', removalReason: 'revoked' }));
    expect((await service.status(request())).removalReason).toBeNull();
  });

  it('answers 404 without a row, refuses before reading on a bad app, and 503 when the database fails', async () => {
    findStatusByKey.mockResolvedValueOnce(undefined);
    await expect(service.status(request())).rejects.toBeInstanceOf(NotFoundException);
    authenticateApp.mockImplementationOnce(() => {
      throw new ForbiddenException('app_id is not configured');
    });
    findStatusByKey.mockClear();
    await expect(service.status(request())).rejects.toBeInstanceOf(ForbiddenException);
    expect(findStatusByKey).not.toHaveBeenCalled();
    findStatusByKey.mockRejectedValueOnce(new Error('connection refused'));
    await expect(service.status(request())).rejects.toBeInstanceOf(DatabaseUnavailableException);
  });

  it('says webpush while the registration has a subscription the instance did not refuse, stream once it fell back', async () => {
    const subscription = { registrationId: 1, state: 'subscribed' } as PushSubscription;
    findByRegistration.mockResolvedValue(subscription);
    expect((await service.status(request())).transport).toBe('webpush');
    expect(findByRegistration).toHaveBeenCalledWith(1);
    findByRegistration.mockResolvedValue({ ...subscription, state: 'subscribing' });
    expect((await service.status(request())).transport).toBe('webpush');
    findByRegistration.mockResolvedValue({ ...subscription, state: 'refused' });
    expect((await service.status(request())).transport).toBe('stream');
  });
});
