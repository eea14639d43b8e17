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
    // the whole range of HTTP statuses
    expect(parseStreamingFrame('{"error":"x","status":100}', false)).toMatchObject({ ok: 'error', status: 100 });
    expect(parseStreamingFrame('{"error":"x","status":599}', false)).toMatchObject({ ok: 'error', status: 599 });
  });

  it('takes a frame with an event for an event, even with error and status fields', () => {
    expect(parseStreamingFrame('{"event":"notification","payload":"{}","error":"x","status":401}', false)).toEqual({
      ok: true,
      event: 'notification',
      payload: '{}',
    });
  });

  it('accepts an event name of 64 characters, the longest', () => {
    expect(parseStreamingFrame(JSON.stringify({ event: 'e'.repeat(64) }), false)).toMatchObject({ ok: true });
  });

  it.each([
    ['a status that is not a number', '{"error":"x","status":"401"}'],
    ['a status outside HTTP', '{"error":"x","status":42}'],
    ['a status above HTTP', '{"error":"x","status":600}'],
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
    // exactly the length kept: nothing was cut, nothing is said
    expect(frameExcerpt('x'.repeat(40), false)).toBe('x'.repeat(40));
  });
});
