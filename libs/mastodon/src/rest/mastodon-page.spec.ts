import { parseLinkHeader, parsePage, splitJsonArray } from './mastodon-page';
import { rateLimitedUntil } from './mastodon-rest.error';

describe('splitJsonArray', () => {
  it('gives the exact text of every element, escapes, nesting and spacing inside kept', () => {
    const a = '{"id":"1","s":"\\u00e9 \\"q\\" ] } , [","n":[1,{"x":"]"}]}';
    const b = '{ "id" : "2" }';
    expect(splitJsonArray(`[${a},${b}]`)).toEqual([a, b]);
    expect(splitJsonArray(` [ ${a} ,\n ${b} ] \n`)).toEqual([a, b]);
    expect(splitJsonArray('[]')).toEqual([]);
    expect(splitJsonArray('[ ]')).toEqual([]);
    expect(splitJsonArray('["a\\\\",1,null]')).toEqual(['"a\\\\"', '1', 'null']);
  });

  it('refuses what is not one array', () => {
    for (const bad of ['', '{}', '[', '[1', '[1,', '["unterminated]', '[1] x', '[1]]']) {
      expect(splitJsonArray(bad)).toBeUndefined();
    }
  });
});

describe('parsePage', () => {
  it('keeps each notification as received, keyed by its id', () => {
    const first = '{"id":"12","type":"mention","created_at":"2024-11-22T10:00:00.000Z","x":"\\/"}';
    const items = parsePage(`[${first},{"id":"11"}]`, 'notifications');
    expect(items).toEqual([
      { key: '12', createdAt: Date.parse('2024-11-22T10:00:00.000Z'), json: first },
      { key: '11', createdAt: undefined, json: '{"id":"11"}' },
    ]);
  });

  it('keys conversations by their last status and leaves out those without one', () => {
    const conversation =
      '{"id":"c1","last_status":{"id":"113000000000000000001","created_at":"2024-11-22T10:00:00Z"}}';
    const items = parsePage(`[${conversation},{"id":"c2","last_status":null}]`, 'conversations');
    expect(items).toEqual([
      {
        key: '113000000000000000001',
        createdAt: Date.parse('2024-11-22T10:00:00Z'),
        json: conversation,
      },
    ]);
  });

  it('refuses anything but an array of objects with string ids', () => {
    for (const bad of ['not json', '{"id":"1"}', '[1]', '[{"id":1}]', '[{"id":""}]', '[null]']) {
      expect(() => parsePage(bad, 'notifications')).toThrow();
    }
    expect(() => parsePage('[{"id":"c","last_status":{"id":5}}]', 'conversations')).toThrow(
      /last_status/,
    );
  });
});

describe('parseLinkHeader', () => {
  it('reads the paging ids of next and prev', () => {
    const header =
      '<https://m.example/api/v1/notifications?limit=80&max_id=100>; rel="next", ' +
      '<https://m.example/api/v1/notifications?limit=80&min_id=180>; rel="prev"';
    expect(parseLinkHeader(header)).toEqual({ next: { maxId: '100' }, prev: { minId: '180' } });
  });

  it('ignores malformed parts and ids', () => {
    expect(parseLinkHeader(undefined)).toEqual({});
    expect(parseLinkHeader('garbage')).toEqual({});
    expect(parseLinkHeader('<https://m.example/?max_id=a%20b>; rel="next"')).toEqual({ next: {} });
  });
});

describe('rateLimitedUntil', () => {
  const now = 1_700_000_000_000;

  it('reads Retry-After in seconds or as a date', () => {
    expect(rateLimitedUntil({ 'retry-after': '3' }, now)).toBe(now + 3_000);
    expect(rateLimitedUntil({ 'retry-after': new Date(now + 5_000).toUTCString() }, now)).toBe(
      now + 5_000,
    );
  });

  it('reads X-RateLimit-Reset when no request is left', () => {
    const reset = new Date(now + 60_000).toISOString();
    expect(
      rateLimitedUntil({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset }, now),
    ).toBe(now + 60_000);
    expect(
      rateLimitedUntil({ 'x-ratelimit-remaining': '10', 'x-ratelimit-reset': reset }, now),
    ).toBeUndefined();
  });

  it('never asks to wait into the past or longer than 15 minutes', () => {
    expect(rateLimitedUntil({ 'retry-after': '99999' }, now)).toBe(now + 15 * 60_000);
    expect(rateLimitedUntil({ 'retry-after': new Date(now - 5_000).toUTCString() }, now)).toBe(now);
    expect(rateLimitedUntil({ 'retry-after': 'soon' }, now)).toBeUndefined();
  });
});
