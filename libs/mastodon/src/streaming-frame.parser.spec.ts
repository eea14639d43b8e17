import { frameExcerpt, isKnownStreamingEvent, parseStreamingFrame } from './streaming-frame.parser';

describe('streaming frames', () => {
  it('keeps the payload exactly as sent (a JSON string stays a string)', () => {
    const payload = JSON.stringify({ id: '1', content: '<p>\u2603 "q"</p>' });
    const frame = JSON.stringify({ stream: ['user'], event: 'notification', payload });
    expect(parseStreamingFrame(Buffer.from(frame), false)).toEqual({
      ok: true,
      event: 'notification',
      payload,
    });
  });

  it('accepts an object payload and a missing one', () => {
    expect(parseStreamingFrame('{"event":"notification","payload":{"id":"2"}}', false)).toEqual({
      ok: true,
      event: 'notification',
      payload: { id: '2' },
    });
    expect(parseStreamingFrame('{"event":"filters_changed"}', false)).toEqual({
      ok: true,
      event: 'filters_changed',
      payload: undefined,
    });
  });

  it('recognises an error frame by its shape: a string error and an HTTP status, no event', () => {
    const frame = '{"error":"Access token does not have the required scopes","status":401}';
    expect(parseStreamingFrame(frame, false)).toEqual({
      ok: 'error',
      status: 401,
      error: 'Access token does not have the required scopes',
    });
    expect(parseStreamingFrame('{"error":"x","status":403}', false)).toMatchObject({ ok: 'error', status: 403 });
    const long = parseStreamingFrame(JSON.stringify({ error: 'e'.repeat(1000), status: 500 }), false);
    expect(long).toEqual({ ok: 'error', status: 500, error: 'e'.repeat(300) });
  });

  it.each([
    ['a status that is not a number', '{"error":"x","status":"401"}'],
    ['a status outside HTTP', '{"error":"x","status":42}'],
    ['a fractional status', '{"error":"x","status":401.5}'],
    ['an error that is not a string', '{"error":{"m":1},"status":401}'],
    ['no status', '{"error":"x"}'],
  ])('treats an error-like frame with %s as malformed', (_what, data) => {
    expect(parseStreamingFrame(data, false)).toEqual({ ok: false, reason: 'no_event' });
  });

  it.each([
    ['binary', Buffer.from([1, 2, 3]), true],
    ['not_json', 'not json', false],
    ['not_json', '{"event":"notification",', false],
    ['not_object', '[1,2]', false],
    ['not_object', 'null', false],
    ['not_object', '"text"', false],
    ['no_event', '{"payload":"x"}', false],
    ['no_event', '{"event":42}', false],
    ['no_event', '{"event":""}', false],
    ['no_event', JSON.stringify({ event: 'e'.repeat(65) }), false],
  ] as const)('reports %s', (reason, data, isBinary) => {
    expect(parseStreamingFrame(data, isBinary)).toEqual({ ok: false, reason });
  });

  it('recognises Mastodon events and nothing else', () => {
    for (const event of [
      'update',
      'delete',
      'status.update',
      'announcement.reaction',
      'notifications_merged',
      'encrypted_message',
    ]) {
      expect(isKnownStreamingEvent(event)).toBe(true);
    }
    expect(isKnownStreamingEvent('__proto__')).toBe(false);
    expect(isKnownStreamingEvent('something.new')).toBe(false);
  });

  it('makes short printable excerpts without the secret, even when the cut would fall inside it', () => {
    const secret = 'tok_0123456789abcdef';
    expect(frameExcerpt(`xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx${secret}yyyy`, false, secret)).toBe(
      'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx[redacted]'.slice(0, 40) + '… (59 bytes)',
    );
    expect(frameExcerpt(`a${secret}`, false, secret)).toBe('a[redacted]');
    expect(frameExcerpt(Buffer.from('line\nbreak\u0000'), false)).toBe('line?break?');
    expect(frameExcerpt(Buffer.from(secret), true, secret)).toBe('[binary, 20 bytes]');
    expect(frameExcerpt('x'.repeat(100), false)).toBe(`${'x'.repeat(40)}… (100 bytes)`);
  });
});
