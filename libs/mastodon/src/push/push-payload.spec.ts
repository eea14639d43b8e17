import { parsePushPayload } from './push-payload';

const payload = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

describe('parsePushPayload', () => {
  it("reads Mastodon's notification_id, a number or a string", () => {
    expect(parsePushPayload(payload({ access_token: 't', notification_id: 1234, notification_type: 'mention' }))).toEqual({
      ok: true,
      notificationId: '1234',
    });
    expect(parsePushPayload(payload({ notification_id: '99' }))).toEqual({ ok: true, notificationId: '99' });
  });

  it('keeps an id beyond 2^53 exact', () => {
    expect(parsePushPayload(payload('{"notification_id":113456789012345678901}'))).toEqual({
      ok: true,
      notificationId: '113456789012345678901',
    });
  });

  it.each([
    ['not UTF-8', Buffer.from([0xff, 0xfe])],
    ['not JSON', payload('hello')],
    ['not an object', payload([1])],
    ['no id', payload({ title: 'x' })],
    ['an id that is not one', payload({ notification_id: 'a b' })],
    ['a negative id', payload({ notification_id: -1 })],
    ['a huge payload', Buffer.alloc(10_000, 0x20)],
  ])('refuses %s', (_case, body) => {
    expect(parsePushPayload(body).ok).toBe(false);
  });
});
