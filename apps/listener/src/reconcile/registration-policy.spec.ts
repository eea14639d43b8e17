import { AppConfigService, InstanceAccess } from '@app/config';
import { Registration } from '@app/database';
import { strictStub } from '../../../../test/support/strict-stub';
import { hashSecret } from '@app/security';
import { RegistrationPolicy } from './registration-policy';

function registration(overrides: Partial<Registration> = {}): Registration {
  return {
    id: 1,
    lastUpdate: 1,
    instanceUrl: 'https://m.example',
    appId: 'app',
    tag: 't',
    accessToken: 'token',
    appSecretHash: hashSecret('secret'),
    callbackUrl: 'https://cb.example/x',
    endpoint: null,
    ...overrides,
  };
}

describe('RegistrationPolicy', () => {
  let findApp: jest.Mock;
  let instanceAccess: jest.Mock<InstanceAccess, [string, string]>;
  let policy: RegistrationPolicy;
  const entry = { replaceUrl: 'http://10.0.0.2' };

  beforeEach(() => {
    findApp = jest.fn().mockReturnValue({ secret: 'secret' });
    instanceAccess = jest.fn().mockReturnValue({ allowed: true, entry, exact: true });
    policy = new RegistrationPolicy(
      strictStub<AppConfigService>('AppConfigService', { findApp, instanceAccess }),
    );
  });

  it('allows a registration of a configured app with its current secret on an allowed instance', () => {
    expect(policy.evaluate(registration())).toEqual({ allowed: true, instance: entry });
    expect(findApp).toHaveBeenCalledWith('app');
    expect(instanceAccess).toHaveBeenCalledWith('https://m.example', 'app');
  });

  it('refuses when the app is gone, before looking at the instance', () => {
    findApp.mockReturnValue(undefined);
    expect(policy.evaluate(registration())).toEqual({
      allowed: false,
      reason: 'app is no longer in app_map',
    });
    expect(instanceAccess).not.toHaveBeenCalled();
  });

  it('refuses when the app secret changed since the registration', () => {
    findApp.mockReturnValue({ secret: 'rotated' });
    expect(policy.evaluate(registration())).toEqual({
      allowed: false,
      reason: 'app secret changed since the registration',
    });
    expect(instanceAccess).not.toHaveBeenCalled();
  });

  it('accepts rows of the original program that hold the secret itself', () => {
    expect(policy.evaluate(registration({ appSecretHash: 'secret' })).allowed).toBe(true);
    expect(policy.evaluate(registration({ appSecretHash: 'other' })).allowed).toBe(false);
  });

  it('refuses when instance_map no longer allows the instance for the app', () => {
    instanceAccess.mockReturnValue({
      allowed: false,
      reason: 'app is not allowed on this instance',
    });
    expect(policy.evaluate(registration())).toEqual({
      allowed: false,
      reason: 'app is not allowed on this instance',
    });
  });
});
