import { RelayEvent } from '@app/callback';
import { AppConfigService, AppEntry, ConfigMaps } from '@app/config';
import { Registration } from '@app/database';
import { strictStub } from '../../../../test/support/strict-stub';
import { CatchUpService } from '../catch-up/catch-up.service';
import { ListenerMetrics } from '../listener.metrics';
import { EventRouterService, RoutableStream } from './event-router.service';

const registration: Registration = {
  id: 42,
  lastUpdate: 1,
  instanceUrl: 'https://m.example',
  appId: 'app',
  tag: 'tag-1',
  accessToken: 'tok_very_secret_value',
  appSecretHash: 'sha256:x',
  callbackUrl: 'https://cb.example/hook',
  endpoint: null,
};

function frame(event: string, payload: unknown): Buffer {
  return Buffer.from(JSON.stringify({ stream: ['user'], event, payload }));
}

describe('EventRouterService', () => {
  let dispatch: jest.Mock<void, [RelayEvent]>;
  let eventReceived: jest.Mock<void, [string]>;
  let router: EventRouterService;
  let maps: ConfigMaps;
  const config = strictStub<AppConfigService>('AppConfigService', {
    get maps() {
      return maps;
    },
    findApp: (appId: string) => maps.apps[appId],
  });

  function withApps(apps: Record<string, Partial<AppEntry>>): void {
    maps = {
      apps: apps as ConfigMaps['apps'],
      instances: {},
      files: { apps: '', instances: '' },
      warnings: [],
    };
  }
  const userStream: RoutableStream = { registration, endpoint: 'user' };
  const directStream: RoutableStream = { registration, endpoint: 'direct' };

  beforeEach(() => {
    dispatch = jest.fn();
    eventReceived = jest.fn();
    withApps({ app: { secret: 's' } });
    router = new EventRouterService(
      strictStub<CatchUpService>('CatchUpService', { relay: dispatch }),
      strictStub<ListenerMetrics>('ListenerMetrics', { eventReceived }),
      config,
    );
  });

  it('relays a notification with the payload exactly as received', () => {
    const payload = '{"id":"9","note":"\\u2603 \\"quoted\\""}';
    router.route(userStream, frame('notification', payload), false, 1234);
    expect(dispatch).toHaveBeenCalledTimes(1);
    expect(dispatch.mock.calls[0][0]).toEqual({
      registrationId: 42,
      instanceUrl: 'https://m.example',
      tag: 'tag-1',
      appId: 'app',
      callbackUrl: 'https://cb.example/hook',
      event: 'notification',
      payload,
      objectId: '9',
      receivedAt: 1234,
    });
    expect(dispatch.mock.calls[0][0].payload).toBe(payload);
    expect(eventReceived.mock.calls).toEqual([['notification']]);
  });

  it('relays notifications_merged only to an app that lists it, and follows a reload at once', () => {
    router.route(userStream, frame('notifications_merged', '1'), false, 1);
    expect(dispatch).not.toHaveBeenCalled();
    withApps({ app: { secret: 's', events: ['notification', 'notifications_merged'] } });
    router.route(userStream, frame('notifications_merged', '1'), false, 2);
    expect(dispatch.mock.calls.map(([event]) => event.event)).toEqual(['notifications_merged']);
    router.route(directStream, frame('conversation', '{"id":"1"}'), false, 3);
    expect(dispatch).toHaveBeenCalledTimes(1);
  });

  it('hands an error frame refusing the token back, relaying nothing; other error frames are skipped', () => {
    const refusal = router.route(
      userStream,
      Buffer.from('{"error":"Access token does not have the required scopes","status":401}'),
      false,
      1,
    );
    expect(refusal).toEqual({
      status: 401,
      error: 'Access token does not have the required scopes',
    });
    expect(router.route(userStream, Buffer.from('{"error":"x","status":403}'), false, 2)).toEqual({
      status: 403,
      error: 'x',
    });
    jest
      .spyOn((router as unknown as { logger: { warn: () => void } }).logger, 'warn')
      .mockImplementation(() => undefined);
    expect(
      router.route(userStream, Buffer.from('{"error":"busy","status":503}'), false, 3),
    ).toBeUndefined();
    expect(dispatch).not.toHaveBeenCalled();
    expect(eventReceived.mock.calls).toEqual([['error'], ['error'], ['error']]);
  });

  it('relays conversation from the direct stream only', () => {
    router.route(userStream, frame('conversation', '{"id":"1"}'), false, 1);
    expect(dispatch).not.toHaveBeenCalled();
    router.route(directStream, frame('conversation', '{"id":"1"}'), false, 2);
    expect(dispatch).toHaveBeenCalledTimes(1);
    expect(dispatch.mock.calls[0][0].event).toBe('conversation');
    expect(eventReceived.mock.calls).toEqual([['conversation'], ['conversation']]);
  });

  it('counts other events under their own name, unknown ones as "unknown", and relays none of them', () => {
    for (const event of [
      'update',
      'delete',
      'status.update',
      'filters_changed',
      'announcement',
      'encrypted_message',
      'brand.new',
      '__proto__',
    ]) {
      router.route(userStream, frame(event, '{}'), false, 1);
    }
    expect(dispatch).not.toHaveBeenCalled();
    expect(eventReceived.mock.calls.map(([label]) => label)).toEqual([
      'update',
      'delete',
      'status.update',
      'filters_changed',
      'announcement',
      'encrypted_message',
      'unknown',
      'unknown',
    ]);
  });

  it('skips malformed frames, counting them and logging a short excerpt without the token', () => {
    const warn = jest
      .spyOn((router as unknown as { logger: { warn: (m: string) => void } }).logger, 'warn')
      .mockImplementation(() => undefined);
    router.route(userStream, Buffer.from(`garbage ${registration.accessToken} and more`), false, 1);
    router.route(userStream, Buffer.from([0, 1, 2]), true, 2);
    expect(dispatch).not.toHaveBeenCalled();
    expect(eventReceived.mock.calls).toEqual([['malformed'], ['malformed']]);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls[0][0]).toContain(
      'malformed frame skipped (not_json) on https://m.example app tag-1: garbage [redacted]',
    );
    expect(warn.mock.calls.join('\n')).not.toContain(registration.accessToken);
  });

  it('limits malformed-frame log lines per second and says how many it left out', () => {
    const warn = jest
      .spyOn((router as unknown as { logger: { warn: (m: string) => void } }).logger, 'warn')
      .mockImplementation(() => undefined);
    for (let i = 0; i < 25; i++) router.route(userStream, Buffer.from('nope'), false, 10_000 + i);
    expect(warn).toHaveBeenCalledTimes(10);
    router.route(userStream, Buffer.from('nope'), false, 11_500);
    expect(warn.mock.calls[10][0]).toBe('15 more skipped frame(s) not logged');
    expect(eventReceived).toHaveBeenCalledTimes(26);
  });
});
