import { Logger } from '@nestjs/common';
import * as webpush from 'web-push';
import { Settings } from '@app/config';
import { PushSubscriptionRepository, PushTarget, ReceivedPushRepository } from '@app/database';
import { generatePushKeys, newPushId } from '@app/mastodon';
import { MetricsService } from '@app/observability';
import { strictStub } from '../../../../test/support/strict-stub';
import { IncomingPush, PushReceiverService } from './push-receiver.service';

const PUBLIC_URL = 'https://relay.example/base';

describe('PushReceiverService', () => {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  const vapid = webpush.generateVAPIDKeys();
  const keys = generatePushKeys();
  const pushId = newPushId();
  let target: PushTarget | undefined;
  let findTarget: jest.Mock;
  let store: jest.Mock;
  let outcomes: string[];
  let service: PushReceiverService;

  function push(payload: string, options: { encoding?: 'aes128gcm' | 'aesgcm'; vapid?: webpush.VapidKeys } = {}): IncomingPush {
    const details = webpush.generateRequestDetails(
      { endpoint: `${PUBLIC_URL}/push/${pushId}`, keys: { p256dh: keys.publicKey, auth: keys.authSecret } },
      payload,
      { vapidDetails: { subject: 'mailto:a@instance.example', ...(options.vapid ?? vapid) }, contentEncoding: options.encoding ?? 'aes128gcm' },
    );
    const headers = details.headers as Record<string, string>;
    return {
      pushId,
      body: details.body,
      headers: {
        authorization: headers.Authorization,
        contentEncoding: headers['Content-Encoding'],
        cryptoKey: headers['Crypto-Key'],
        encryption: headers.Encryption,
      },
    };
  }

  beforeEach(() => {
    target = {
      registrationId: 7,
      pushId,
      ...keys,
      serverKey: vapid.publicKey,
      state: 'subscribed',
      tokenHash: 'sha256:x',
      lastError: null,
      updatedAt: 0,
      registrationLive: true,
    };
    findTarget = jest.fn(() => Promise.resolve(target));
    store = jest.fn().mockResolvedValue('stored');
    outcomes = [];
    service = new PushReceiverService(
      strictStub<PushSubscriptionRepository>('subscriptions', { findTarget }),
      strictStub<ReceivedPushRepository>('pushes', { store }),
      strictStub<MetricsService>('metrics', {
        counter: (() => ({ inc: ({ outcome }: { outcome: string }) => outcomes.push(outcome) })) as never,
      }),
      { webPush: { publicUrl: PUBLIC_URL } } as Settings,
    );
  });

  it.each(['aes128gcm', 'aesgcm'] as const)('stores the notification id of a valid %s push and answers 201', async (encoding) => {
    const answer = await service.receive(push('{"notification_id":4321,"access_token":"secret"}', { encoding }));
    expect(answer).toEqual({ status: 201, message: 'stored' });
    expect(findTarget).toHaveBeenCalledWith(pushId);
    expect(store).toHaveBeenCalledWith(7, '4321', expect.any(Number));
    expect(outcomes).toEqual(['stored']);
  });

  it('answers a replay 201 too, without storing it again', async () => {
    store.mockResolvedValue('replay');
    expect((await service.receive(push('{"notification_id":1}'))).status).toBe(201);
    expect(outcomes).toEqual(['replay']);
  });

  it('answers 404 for an id of the wrong shape without asking the database, and for an unknown id', async () => {
    expect((await service.receive({ ...push('{"notification_id":1}'), pushId: '../register' })).status).toBe(404);
    expect(findTarget).not.toHaveBeenCalled();
    target = undefined;
    expect((await service.receive(push('{"notification_id":1}'))).status).toBe(404);
  });

  it('answers 410 for a registration that ended or fell back to the stream, so the instance drops the subscription', async () => {
    target = { ...target!, registrationLive: false };
    expect((await service.receive(push('{"notification_id":1}'))).status).toBe(410);
    target = { ...target, registrationLive: true, state: 'refused' };
    expect((await service.receive(push('{"notification_id":1}'))).status).toBe(410);
    expect(store).not.toHaveBeenCalled();
  });

  it('answers 403 for VAPID credentials of another key, 400 for what does not decrypt or read, and stores nothing', async () => {
    expect((await service.receive(push('{"notification_id":1}', { vapid: webpush.generateVAPIDKeys() }))).status).toBe(403);
    const valid = push('{"notification_id":1}');
    expect((await service.receive({ ...valid, body: Buffer.alloc(100, 1) })).status).toBe(400);
    expect((await service.receive(push('no json'))).status).toBe(400);
    expect((await service.receive(push('{"other":1}'))).status).toBe(400);
    expect(store).not.toHaveBeenCalled();
    expect(outcomes).toEqual(['bad_vapid', 'undecryptable', 'bad_payload', 'bad_payload']);
  });

  it('answers 503, never a 4xx, when the database fails (lookup or write), and before the server key is stored', async () => {
    findTarget.mockRejectedValueOnce(new Error('connect ECONNREFUSED'));
    expect(await service.receive(push('{"notification_id":1}'))).toMatchObject({ status: 503, retryAfter: 10 });
    store.mockRejectedValueOnce(new Error('connect ECONNREFUSED'));
    expect((await service.receive(push('{"notification_id":1}'))).status).toBe(503);
    target = { ...target!, serverKey: null, state: 'subscribing' };
    expect((await service.receive(push('{"notification_id":1}'))).status).toBe(503);
  });

  it('answers 404 to everything while PUBLIC_URL is unset', async () => {
    service = new PushReceiverService(
      strictStub<PushSubscriptionRepository>('subscriptions', { findTarget }),
      strictStub<ReceivedPushRepository>('pushes', { store }),
      strictStub<MetricsService>('metrics', { counter: (() => ({ inc: () => undefined })) as never }),
      { webPush: { publicUrl: undefined } } as Settings,
    );
    expect((await service.receive(push('{"notification_id":1}'))).status).toBe(404);
    expect(findTarget).not.toHaveBeenCalled();
  });
});
