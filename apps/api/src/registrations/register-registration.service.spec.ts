import {
  BadRequestException,
  ForbiddenException,
  Logger,
  UnauthorizedException,
} from '@nestjs/common';
import { AppEntry, Settings } from '@app/config';
import { RegistrationRepository } from '@app/database';
import { hashSecret } from '@app/security';
import { DatabaseUnavailableException } from '../http/database-errors';
import { callOrder, strictStub } from '../../../../test/support/strict-stub';
import { RegisterDto } from './dto/register.dto';
import { RegisterRegistrationService } from './register-registration.service';
import { RegistrationMetrics } from './registration-metrics.service';
import { InstanceGrant, RegistrationRules } from './registration-rules';

const app: AppEntry = { secret: 'app-secret', callbackUrlPrefix: 'https://push.example.com/' };
const grant: InstanceGrant = { allowed: true, entry: {}, exact: true };

function request(overrides: Partial<RegisterDto> = {}): RegisterDto {
  return Object.assign(new RegisterDto(), {
    instance_url: 'HTTPS://Mastodon.Example/',
    tag: 'tag-1',
    app_id: 'app.one',
    app_secret: 'app-secret',
    access_token: 'token-1',
    callback_url: 'https://push.example.com/cb',
    ...overrides,
  });
}

describe('RegisterRegistrationService', () => {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  let authenticateApp: jest.Mock;
  let authorizeInstance: jest.Mock;
  let checkInstanceAddress: jest.Mock;
  let checkCallbackUrl: jest.Mock;
  let upsert: jest.Mock;
  let record: jest.Mock;
  let service: RegisterRegistrationService;
  const build = (publicUrl: string | undefined) =>
    new RegisterRegistrationService(
      strictStub<RegistrationRules>('rules', {
        authenticateApp,
        authorizeInstance,
        checkInstanceAddress,
        checkCallbackUrl,
      }),
      strictStub<RegistrationRepository>('registrations', { upsert }),
      strictStub<RegistrationMetrics>('metrics', { record }),
      { webPush: { publicUrl } } as Settings,
    );

  beforeEach(() => {
    authenticateApp = jest.fn().mockReturnValue(app);
    authorizeInstance = jest.fn().mockReturnValue(grant);
    checkInstanceAddress = jest.fn();
    // the rules answer the URL normalised; that, not the request's spelling, is stored
    checkCallbackUrl = jest.fn().mockResolvedValue('https://push.example.com/normalised-cb');
    upsert = jest.fn().mockResolvedValue('created');
    record = jest.fn();
    service = build(undefined);
    jest.spyOn(Date, 'now').mockReturnValue(1_700_000_000_000);
  });

  afterEach(() => jest.restoreAllMocks());

  it('checks app, instance, address and callback in that order, then writes once and counts the outcome', async () => {
    await expect(service.register(request({ endpoint: 'direct' }))).resolves.toBe('created');

    expect(
      callOrder({
        authenticateApp,
        authorizeInstance,
        checkInstanceAddress,
        checkCallbackUrl,
        upsert,
        record,
      }),
    ).toEqual([
      'authenticateApp',
      'authorizeInstance',
      'checkInstanceAddress',
      'checkCallbackUrl',
      'upsert',
      'record',
    ]);
    expect(authenticateApp).toHaveBeenCalledWith('app.one', 'app-secret');
    expect(authorizeInstance).toHaveBeenCalledWith('https://mastodon.example', 'app.one');
    expect(checkInstanceAddress).toHaveBeenCalledWith('https://mastodon.example', grant);
    expect(checkCallbackUrl).toHaveBeenCalledWith('https://push.example.com/cb', app);
    expect(upsert).toHaveBeenCalledTimes(1);
    expect(upsert).toHaveBeenCalledWith({
      instanceUrl: 'https://mastodon.example',
      appId: 'app.one',
      tag: 'tag-1',
      accessToken: 'token-1',
      appSecretHash: hashSecret('app-secret'),
      callbackUrl: 'https://push.example.com/normalised-cb',
      endpoint: 'direct',
      transport: null,
      lastUpdate: 1_700_000_000_000,
    });
    expect(record).toHaveBeenCalledWith('register', 'created');
  });

  it('stores a missing endpoint as null, for the listener to decide', async () => {
    upsert.mockResolvedValue('updated');
    await expect(service.register(request())).resolves.toBe('updated');
    expect(upsert.mock.calls[0][0]).toMatchObject({ endpoint: null });
    expect(record).toHaveBeenCalledWith('register', 'updated');
  });

  it('refuses transport webpush without PUBLIC_URL before writing anything', async () => {
    await expect(service.register(request({ transport: 'webpush' }))).rejects.toThrow(
      'transport "webpush" needs PUBLIC_URL, which this server does not set',
    );
    expect(upsert).not.toHaveBeenCalled();
    expect(checkCallbackUrl).not.toHaveBeenCalled();
  });

  it("refuses an instance configured for webpush without PUBLIC_URL, unless the registration asks for the stream", async () => {
    authorizeInstance.mockReturnValue({ ...grant, entry: { transport: 'webpush' } });
    await expect(service.register(request())).rejects.toBeInstanceOf(BadRequestException);
    expect(upsert).not.toHaveBeenCalled();
    await expect(service.register(request({ transport: 'stream' }))).resolves.toBe('created');
    expect(upsert.mock.calls[0][0]).toMatchObject({ transport: 'stream' });
  });

  it('stores transport webpush when PUBLIC_URL is set', async () => {
    service = build('https://relay.example');
    await expect(service.register(request({ transport: 'webpush' }))).resolves.toBe('created');
    expect(upsert.mock.calls[0][0]).toMatchObject({ transport: 'webpush' });
  });

  it.each([
    [
      'an unknown app',
      () =>
        authenticateApp.mockImplementation(() => {
          throw new ForbiddenException('app_id is not configured');
        }),
      ForbiddenException,
      ['authenticateApp'],
    ],
    [
      'a wrong secret',
      () =>
        authenticateApp.mockImplementation(() => {
          throw new UnauthorizedException('app_secret does not match');
        }),
      UnauthorizedException,
      ['authenticateApp'],
    ],
    [
      'an instance not allowed',
      () =>
        authorizeInstance.mockImplementation(() => {
          throw new ForbiddenException('instance_url is not allowed');
        }),
      ForbiddenException,
      ['authenticateApp', 'authorizeInstance'],
    ],
    [
      'a private instance address',
      () =>
        checkInstanceAddress.mockImplementation(() => {
          throw new BadRequestException('instance_url must not be a loopback address');
        }),
      BadRequestException,
      ['authenticateApp', 'authorizeInstance', 'checkInstanceAddress'],
    ],
    [
      'a refused callback',
      () =>
        checkCallbackUrl.mockRejectedValue(
          new BadRequestException('callback_url resolves to a private address'),
        ),
      BadRequestException,
      ['authenticateApp', 'authorizeInstance', 'checkInstanceAddress', 'checkCallbackUrl'],
    ],
  ])(
    'stops at %s without writing or counting success',
    async (_case, refuse, errorType, expectedCalls) => {
      refuse();
      await expect(service.register(request())).rejects.toBeInstanceOf(errorType);
      expect(
        callOrder({
          authenticateApp,
          authorizeInstance,
          checkInstanceAddress,
          checkCallbackUrl,
          upsert,
          record,
        }),
      ).toEqual(expectedCalls);
    },
  );

  it('answers 503 when the database fails, without counting a success', async () => {
    upsert.mockRejectedValue(
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    );
    await expect(service.register(request())).rejects.toBeInstanceOf(DatabaseUnavailableException);
    expect(record).not.toHaveBeenCalled();
  });
});
