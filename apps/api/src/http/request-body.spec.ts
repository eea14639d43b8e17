import { BadRequestException } from '@nestjs/common';
import { parseFormBody, parseJsonObjectBody } from './request-body';

function refusal(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestException);
    return (error as BadRequestException).message;
  }
  throw new Error('expected a refusal');
}

describe('parseFormBody', () => {
  it('decodes fields, + as space and %-escapes as UTF-8', () => {
    const fields = parseFormBody(
      Buffer.from('instance_url=https%3A%2F%2Fm.example&tag=%E6%97%A5+x&empty=&flag'),
    );
    expect({ ...fields }).toEqual({
      instance_url: 'https://m.example',
      tag: '日 x',
      empty: '',
      flag: '',
    });
  });

  it('accepts raw UTF-8 bytes', () => {
    expect(parseFormBody(Buffer.from('tag=日本', 'utf8')).tag).toBe('日本');
  });

  it('turns a repeated field into a list (refused later by the field rules)', () => {
    expect(parseFormBody(Buffer.from('tag=a&tag=b&tag=c')).tag).toEqual(['a', 'b', 'c']);
  });

  it('gives an object without a prototype, so "__proto__" is an ordinary key', () => {
    const fields = parseFormBody(Buffer.from('__proto__=x&constructor=y'));
    expect(Object.getPrototypeOf(fields)).toBeNull();
    expect(fields.__proto__).toBe('x');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('is empty for an empty body', () => {
    expect(Object.keys(parseFormBody(Buffer.alloc(0)))).toEqual([]);
  });

  it('refuses raw bytes that are not UTF-8', () => {
    expect(refusal(() => parseFormBody(Buffer.from([0x74, 0x61, 0x67, 0x3d, 0xe9])))).toBe(
      'body must be UTF-8 text',
    );
  });

  it('refuses %-escapes that are not UTF-8, naming the field but not the value', () => {
    expect(refusal(() => parseFormBody(Buffer.from('tag=%E9t%E9')))).toBe(
      'tag must be %-encoded UTF-8',
    );
    expect(refusal(() => parseFormBody(Buffer.from('access_token=SECRET%FF')))).not.toContain(
      'SECRET',
    );
    expect(refusal(() => parseFormBody(Buffer.from('tag=%ED%A0%80')))).toBe(
      'tag must be %-encoded UTF-8',
    );
  });

  it('refuses a broken escape and a field name that is not UTF-8', () => {
    expect(refusal(() => parseFormBody(Buffer.from('tag=%zz')))).toBe(
      'tag must be %-encoded UTF-8',
    );
    expect(refusal(() => parseFormBody(Buffer.from('%FF=1')))).toBe(
      'body has a form field name that is not %-encoded UTF-8',
    );
  });
});

describe('parseJsonObjectBody', () => {
  const parseJson = (text: string): unknown => JSON.parse(text);

  it('returns an object', () => {
    expect(parseJsonObjectBody(Buffer.from('{"tag":"日"}'), parseJson)).toEqual({ tag: '日' });
  });

  it.each(['[]', '[{"tag":"a"}]', '"text"', '42', 'null', 'true', '', '   '])(
    'refuses %j as not an object',
    (text) => {
      expect(refusal(() => parseJsonObjectBody(Buffer.from(text), parseJson))).toBe(
        'body must be a JSON object',
      );
    },
  );

  it('refuses malformed JSON without quoting it', () => {
    const message = refusal(() =>
      parseJsonObjectBody(Buffer.from('{"access_token": SECRET'), parseJson),
    );
    expect(message).toBe('body is not valid JSON');
  });

  it('refuses bytes that are not UTF-8', () => {
    const body = Buffer.concat([
      Buffer.from('{"tag":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]);
    expect(refusal(() => parseJsonObjectBody(body, parseJson))).toBe('body must be UTF-8 text');
  });
});
