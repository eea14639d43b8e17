import { CallbackDispatcher, RelayEvent } from '@app/callback';
import { AppConfigService } from '@app/config';
import { Registration } from '@app/database';
import { strictStub } from '../../../../test/support/strict-stub';
import { LifecycleEventsService, REGISTRATION_REMOVED_EVENT } from './lifecycle-events.service';

const registration: Registration = {
  id: 12,
  lastUpdate: 1_700_000_000_123,
  instanceUrl: 'https://m.example',
  appId: 'app.events',
  tag: 'tag-12',
  accessToken: 'token-12',
  appSecretHash: 'sha256:x',
  callbackUrl: 'https://cb.example/hook',
  endpoint: null,
};

describe('LifecycleEventsService', () => {
  let sent: RelayEvent[];
  const apps: Record<string, { lifecycleEvents?: boolean }> = {
    'app.events': { lifecycleEvents: true },
    'app.quiet': { lifecycleEvents: false },
    'app.default': {},
  };
  let service: LifecycleEventsService;

  beforeEach(() => {
    sent = [];
    service = new LifecycleEventsService(
      strictStub<AppConfigService>('AppConfigService', {
        findApp: ((appId: string) => apps[appId]) as AppConfigService['findApp'],
      }),
      strictStub<CallbackDispatcher>('CallbackDispatcher', {
        dispatch: (event: RelayEvent) => void sent.push(event),
      }),
    );
  });

  it('sends registration.removed with the reason to the registration callback of an app that asked', () => {
    expect(service.registrationRemoved(registration, 'revoked', 42)).toBe(true);
    expect(sent).toEqual([
      {
        registrationId: 12,
        instanceUrl: 'https://m.example',
        tag: 'tag-12',
        appId: 'app.events',
        callbackUrl: 'https://cb.example/hook',
        event: REGISTRATION_REMOVED_EVENT,
        payload: { reason: 'revoked' },
        objectId: 'removed@1700000000123',
        receivedAt: 42,
      },
    ]);
    expect(REGISTRATION_REMOVED_EVENT).toBe('registration.removed');
  });

  it('gives the same removal of the same registration the same object id, and a renewed one another', () => {
    service.registrationRemoved(registration, 'expired', 1);
    service.registrationRemoved(registration, 'expired', 2);
    service.registrationRemoved(
      { ...registration, lastUpdate: registration.lastUpdate + 1 },
      'expired',
      3,
    );
    expect(sent.map((event) => event.objectId)).toEqual([
      'removed@1700000000123',
      'removed@1700000000123',
      'removed@1700000000124',
    ]);
  });

  it('sends nothing for an app that did not ask, or is no longer configured', () => {
    for (const appId of ['app.quiet', 'app.default', 'app.gone'])
      expect(service.registrationRemoved({ ...registration, appId }, 'scope')).toBe(false);
    expect(sent).toEqual([]);
  });

  it('stamps the event with the time of the removal by default', () => {
    const before = Date.now();
    service.registrationRemoved(registration, 'config');
    expect(sent[0].receivedAt).toBeGreaterThanOrEqual(before);
    expect(sent[0].receivedAt).toBeLessThanOrEqual(Date.now());
  });
});
