import { BadRequestException, ForbiddenException, UnauthorizedException } from '@nestjs/common';
import { lookup } from 'node:dns/promises';
import { AppConfigService, AppEntry, InstanceEntry } from '@app/config';
import { strictStub } from '../../../../test/support/strict-stub';
import { InstanceGrant, RegistrationRules } from './registration-rules';

jest.mock('node:dns/promises', () => ({ lookup: jest.fn() }));
const lookupMock = lookup as unknown as jest.Mock;

function grant(entry: InstanceEntry, exact: boolean): InstanceGrant {
  return { allowed: true, entry, exact };
}

async function refusal(work: () => unknown): Promise<Error> {
  try {
    await work();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a refusal');
}

describe('RegistrationRules', () => {
  const app: AppEntry = { secret: 'the-secret' };
  let findApp: jest.Mock;
  let instanceAccess: jest.Mock;
  let rules: RegistrationRules;

  beforeEach(() => {
    findApp = jest.fn().mockReturnValue(app);
    instanceAccess = jest.fn();
    rules = new RegistrationRules(
      strictStub<AppConfigService>('config', { findApp, instanceAccess }),
    );
    lookupMock.mockReset();
  });

  describe('authenticateApp', () => {
    it('returns the app entry when the secret matches', () => {
      expect(rules.authenticateApp('app.one', 'the-secret')).toBe(app);
      expect(findApp).toHaveBeenCalledWith('app.one');
    });

    it('answers 403 for an app that is not configured, without comparing anything', async () => {
      findApp.mockReturnValue(undefined);
      const error = await refusal(() => rules.authenticateApp('app.unknown', 'whatever'));
      expect(error).toBeInstanceOf(ForbiddenException);
      expect(error.message).toBe('app_id is not configured');
    });

    it('answers 401 for a wrong secret and does not echo it', async () => {
      const error = await refusal(() => rules.authenticateApp('app.one', 'guessed-secret'));
      expect(error).toBeInstanceOf(UnauthorizedException);
      expect(error.message).toBe('app_secret does not match');
      expect(JSON.stringify((error as UnauthorizedException).getResponse())).not.toContain(
        'guessed-secret',
      );
    });

    it('refuses a secret that only shares a prefix', async () => {
      expect(
        await refusal(() => rules.authenticateApp('app.one', 'the-secret-and-more')),
      ).toBeInstanceOf(UnauthorizedException);
    });
  });

  describe('authorizeInstance', () => {
    it('returns the grant from instance_map', () => {
      const allowed = grant({ endpoint: 'user' }, true);
      instanceAccess.mockReturnValue(allowed);
      expect(rules.authorizeInstance('https://mastodon.example', 'app.one')).toBe(allowed);
      expect(instanceAccess).toHaveBeenCalledWith('https://mastodon.example', 'app.one');
    });

    it('answers 403 naming instance_url and the reason', async () => {
      instanceAccess.mockReturnValue({
        allowed: false,
        reason: 'app is not allowed on this instance',
      });
      const error = await refusal(() =>
        rules.authorizeInstance('https://mastodon.example', 'app.one'),
      );
      expect(error).toBeInstanceOf(ForbiddenException);
      expect(error.message).toBe(
        'instance_url is not allowed: app is not allowed on this instance',
      );
    });
  });

  describe('checkInstanceAddress', () => {
    it.each(['https://mastodon.example', 'https://93.184.216.34', 'http://[2606:4700::1111]'])(
      'lets a public or named host through: %s',
      (url) => {
        expect(() => rules.checkInstanceAddress(url, grant({}, false))).not.toThrow();
      },
    );

    it.each([
      'http://127.0.0.1:3000',
      'http://localhost',
      'http://mastodon.localhost',
      'http://10.1.2.3',
      'http://192.168.0.10',
      'http://172.16.5.4',
      'http://169.254.169.254',
      'http://[::1]',
      'http://[fe80::1]',
      'http://[::ffff:127.0.0.1]',
      'http://0.0.0.0',
    ])('refuses %s under "*" and under an exact entry without permission', async (url) => {
      for (const denied of [
        grant({}, false),
        grant({ allowPrivateAddress: true }, false),
        grant({}, true),
      ]) {
        const error = await refusal(() => rules.checkInstanceAddress(url, denied));
        expect(error).toBeInstanceOf(BadRequestException);
        expect(error.message).toMatch(
          /^instance_url must not be a loopback, private or link-local address/,
        );
      }
    });

    it('allows a private address with an exact entry that says allowPrivateAddress', () => {
      expect(() =>
        rules.checkInstanceAddress('http://10.1.2.3', grant({ allowPrivateAddress: true }, true)),
      ).not.toThrow();
    });

    it('allows a private address whose exact entry routes both streaming and REST elsewhere', () => {
      const routed = grant(
        { replaceUrl: 'http://10.0.0.2:4000', replaceUrlWeb: 'http://10.0.0.2:3000' },
        true,
      );
      expect(() => rules.checkInstanceAddress('http://10.1.2.3', routed)).not.toThrow();
    });

    it('refuses when only one of replaceUrl and replaceUrlWeb is set', async () => {
      const half = grant({ replaceUrl: 'http://10.0.0.2:4000' }, true);
      expect(
        await refusal(() => rules.checkInstanceAddress('http://10.1.2.3', half)),
      ).toBeInstanceOf(BadRequestException);
    });
  });

  describe('checkCallbackUrl', () => {
    const withPrefix: AppEntry = {
      secret: 's',
      callbackUrlPrefix: ['https://push.example.com/', 'http://10.0.0.9:8080/'],
    };

    it('trusts a URL under a configured prefix without resolving it (even a private one)', async () => {
      await expect(
        rules.checkCallbackUrl('https://push.example.com/cb', withPrefix),
      ).resolves.toBe('https://push.example.com/cb');
      await expect(
        rules.checkCallbackUrl('http://10.0.0.9:8080/cb', withPrefix),
      ).resolves.toBe('http://10.0.0.9:8080/cb');
      expect(lookupMock).not.toHaveBeenCalled();
    });

    it('returns the URL normalised, as it is stored', async () => {
      await expect(
        rules.checkCallbackUrl('HTTPS://Push.Example.com:443/a/./b/../cb', withPrefix),
      ).resolves.toBe('https://push.example.com/a/cb');
    });

    it('answers 400 naming callback_url when no prefix matches', async () => {
      const error = await refusal(() =>
        rules.checkCallbackUrl('https://elsewhere.example/cb', withPrefix),
      );
      expect(error).toBeInstanceOf(BadRequestException);
      expect(error.message).toBe(
        'callback_url does not start with a callbackUrlPrefix configured for this app',
      );
    });

    it('without a prefix, refuses literal private addresses without resolving', async () => {
      const error = await refusal(() => rules.checkCallbackUrl('http://127.0.0.1:8080/cb', app));
      expect(error.message).toBe(
        'callback_url resolves to a loopback, private or link-local address',
      );
      expect(lookupMock).not.toHaveBeenCalled();
    });

    it('without a prefix, resolves a name and refuses it when any address is private', async () => {
      lookupMock.mockResolvedValue([
        { address: '93.184.216.34', family: 4 },
        { address: '10.0.0.1', family: 4 },
      ]);
      const error = await refusal(() => rules.checkCallbackUrl('https://push.example.net/cb', app));
      expect(error.message).toBe(
        'callback_url resolves to a loopback, private or link-local address',
      );
      expect(lookupMock).toHaveBeenCalledWith('push.example.net', { all: true, verbatim: true });
    });

    it('without a prefix, accepts a name that resolves to public addresses only', async () => {
      lookupMock.mockResolvedValue([{ address: '93.184.216.34', family: 4 }]);
      await expect(
        rules.checkCallbackUrl('https://push.example.net/cb', app),
      ).resolves.toBe('https://push.example.net/cb');
    });

    it('leaves no lookup timer behind once a name resolved (it would reject later, with nobody waiting)', async () => {
      jest.useFakeTimers();
      try {
        lookupMock.mockResolvedValue([{ address: '93.184.216.34', family: 4 }]);
        await expect(rules.checkCallbackUrl('https://push.example.net/cb', app)).resolves.toBe(
          'https://push.example.net/cb',
        );
        expect(jest.getTimerCount()).toBe(0);
      } finally {
        jest.useRealTimers();
      }
    });

    it('refuses a name that does not resolve in time', async () => {
      jest.useFakeTimers();
      try {
        lookupMock.mockReturnValue(new Promise(() => undefined));
        const pending = rules.checkCallbackUrl('https://slow.example.net/cb', app);
        const settled = pending.then(
          () => undefined,
          (error: Error) => error,
        );
        await jest.advanceTimersByTimeAsync(3_000);
        const error = await settled;
        expect(error).toBeInstanceOf(BadRequestException);
        expect(error?.message).toBe('callback_url host name does not resolve');
      } finally {
        jest.useRealTimers();
      }
    });

    it.each([
      ['ftp://push.example.com/cb', 'callback_url must be an http:// or https:// URL'],
      ['https://user:pw@push.example.com/cb', 'callback_url must not contain credentials'],
    ])('refuses %s', async (url, message) => {
      expect((await refusal(() => rules.checkCallbackUrl(url, withPrefix))).message).toBe(message);
    });
  });
});
