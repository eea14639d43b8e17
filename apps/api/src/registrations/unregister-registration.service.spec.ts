import { ForbiddenException, Logger, UnauthorizedException } from '@nestjs/common';
import { RegistrationRepository } from '@app/database';
import { DatabaseUnavailableException } from '../http/database-errors';
import { callOrder, strictStub } from '../../../../test/support/strict-stub';
import { UnregisterDto } from './dto/unregister.dto';
import { RegistrationMetrics } from './registration-metrics.service';
import { RegistrationRules } from './registration-rules';
import { UnregisterRegistrationService } from './unregister-registration.service';

function request(): UnregisterDto {
  return Object.assign(new UnregisterDto(), {
    instance_url: 'https://Mastodon.example/',
    tag: 'tag-1',
    app_id: 'app.one',
    app_secret: 'app-secret',
  });
}

describe('UnregisterRegistrationService', () => {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  let authenticateApp: jest.Mock;
  let deleteByKey: jest.Mock;
  let record: jest.Mock;
  let service: UnregisterRegistrationService;

  beforeEach(() => {
    authenticateApp = jest.fn().mockReturnValue({ secret: 'app-secret' });
    deleteByKey = jest.fn().mockResolvedValue(true);
    record = jest.fn();
    // the instance is deliberately not checked: an app may clean up after the operator withdrew an instance
    service = new UnregisterRegistrationService(
      strictStub<RegistrationRules>('rules', { authenticateApp }),
      strictStub<RegistrationRepository>('registrations', { deleteByKey }),
      strictStub<RegistrationMetrics>('metrics', { record }),
    );
  });

  it('authenticates the app, then deletes by the normalized key and counts "removed"', async () => {
    await expect(service.unregister(request())).resolves.toBe('removed');
    expect(callOrder({ authenticateApp, deleteByKey, record })).toEqual([
      'authenticateApp',
      'deleteByKey',
      'record',
    ]);
    expect(authenticateApp).toHaveBeenCalledWith('app.one', 'app-secret');
    expect(deleteByKey).toHaveBeenCalledWith({
      instanceUrl: 'https://mastodon.example',
      appId: 'app.one',
      tag: 'tag-1',
    });
    expect(record).toHaveBeenCalledWith('unregister', 'removed');
  });

  it('counts "not_found" when there was nothing to remove (still a success, as the original)', async () => {
    deleteByKey.mockResolvedValue(false);
    await expect(service.unregister(request())).resolves.toBe('not_found');
    expect(record).toHaveBeenCalledWith('unregister', 'not_found');
  });

  it.each([
    ['an unknown app', new ForbiddenException('app_id is not configured')],
    ['a wrong secret', new UnauthorizedException('app_secret does not match')],
  ])('deletes nothing for %s', async (_case, error) => {
    authenticateApp.mockImplementation(() => {
      throw error;
    });
    await expect(service.unregister(request())).rejects.toBe(error);
    expect(deleteByKey).not.toHaveBeenCalled();
    expect(record).not.toHaveBeenCalled();
  });

  it('answers 503 when the database fails', async () => {
    deleteByKey.mockRejectedValue(new Error('Connection terminated unexpectedly'));
    await expect(service.unregister(request())).rejects.toBeInstanceOf(
      DatabaseUnavailableException,
    );
    expect(record).not.toHaveBeenCalled();
  });
});
