import { ArgumentMetadata, BadRequestException } from '@nestjs/common';
import { createValidationPipe } from '../../http/validation.pipe';
import { RegisterDto } from './register.dto';
import { UnregisterDto } from './unregister.dto';

const pipe = createValidationPipe();
const asRegisterBody: ArgumentMetadata = { type: 'body', metatype: RegisterDto };
const asUnregisterBody: ArgumentMetadata = { type: 'body', metatype: UnregisterDto };

const valid = {
  instance_url: 'https://mastodon.example',
  tag: 'tag-1',
  app_id: 'app.one',
  app_secret: 'app-secret-value',
  access_token: 'token-VALUE_123-abc.~',
  callback_url: 'https://push.example.com/callback',
};

async function messageFor(body: unknown, metadata = asRegisterBody): Promise<string> {
  try {
    await pipe.transform(body, metadata);
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestException);
    return (error as BadRequestException).message;
  }
  throw new Error('expected the body to be refused');
}

describe('RegisterDto validation', () => {
  it('accepts a valid body, drops unknown fields and keeps the values as sent', async () => {
    const dto = (await pipe.transform(
      { ...valid, endpoint: 'user:notification', extra: 'ignored', lang: 'ja' },
      asRegisterBody,
    )) as RegisterDto;
    expect(dto).toBeInstanceOf(RegisterDto);
    expect({ ...dto }).toEqual({ ...valid, endpoint: 'user:notification' });
  });

  it('accepts every stream endpoint and treats null as absent', async () => {
    for (const endpoint of ['user', 'user:notification', 'direct', null, undefined]) {
      await expect(pipe.transform({ ...valid, endpoint }, asRegisterBody)).resolves.toBeInstanceOf(
        RegisterDto,
      );
    }
  });

  it('accepts values of exactly the byte limits, counted in UTF-8', async () => {
    const body = {
      ...valid,
      tag: '日'.repeat(85), // 255 bytes
      app_secret: 'é'.repeat(127) + 'x', // 255 bytes
      access_token: 'a'.repeat(512),
      callback_url: `https://push.example.com/${'a'.repeat(1024 - 'https://push.example.com/'.length)}`,
    };
    await expect(pipe.transform(body, asRegisterBody)).resolves.toBeInstanceOf(RegisterDto);
  });

  it('accepts an http:// callback_url as well as an https:// one (the app\'s prefix decides where it may point)', async () => {
    await expect(
      pipe.transform({ ...valid, callback_url: 'http://push.example.com/callback' }, asRegisterBody),
    ).resolves.toBeInstanceOf(RegisterDto);
    expect(await messageFor({ ...valid, callback_url: 'ftp://push.example.com/callback' })).toBe(
      'callback_url must be an http:// or https:// URL',
    );
  });

  it('names the first field in declaration order when several are wrong', async () => {
    expect(await messageFor({})).toBe('instance_url is required');
    expect(await messageFor({ instance_url: valid.instance_url })).toBe('tag is required');
    expect(await messageFor({ ...valid, app_id: '', access_token: 5 })).toBe(
      'app_id must not be empty',
    );
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['missing instance_url', { instance_url: undefined }, 'instance_url is required'],
    ['null tag', { tag: null }, 'tag is required'],
    ['missing app_id', { app_id: undefined }, 'app_id is required'],
    ['missing app_secret', { app_secret: undefined }, 'app_secret is required'],
    ['missing access_token', { access_token: undefined }, 'access_token is required'],
    ['missing callback_url', { callback_url: undefined }, 'callback_url is required'],
    ['empty instance_url', { instance_url: '' }, 'instance_url must not be empty'],
    ['empty tag', { tag: '' }, 'tag must not be empty'],
    ['empty app_secret', { app_secret: '' }, 'app_secret must not be empty'],
    ['empty access_token', { access_token: '' }, 'access_token must not be empty'],
    ['numeric tag', { tag: 5 }, 'tag must be a string'],
    ['boolean app_id', { app_id: true }, 'app_id must be a string'],
    ['object access_token', { access_token: { $ne: '' } }, 'access_token must be a string'],
    ['repeated tag (form)', { tag: ['a', 'b'] }, 'tag must be given once, as a string'],
    [
      'tag of 86 × 日 (258 bytes)',
      { tag: '日'.repeat(86) },
      'tag must be at most 255 bytes (UTF-8)',
    ],
    ['tag of 256 ASCII bytes', { tag: 'a'.repeat(256) }, 'tag must be at most 255 bytes (UTF-8)'],
    [
      'app_id of 64 emoji (256 bytes)',
      { app_id: '😀'.repeat(64) },
      'app_id must be at most 255 bytes (UTF-8)',
    ],
    [
      'app_secret of 256 bytes',
      { app_secret: 's'.repeat(256) },
      'app_secret must be at most 255 bytes (UTF-8)',
    ],
    [
      'access_token of 513 bytes',
      { access_token: 'a'.repeat(513) },
      'access_token must be at most 512 bytes (UTF-8)',
    ],
    [
      'access_token of 171 × 日 (513 bytes)',
      { access_token: '日'.repeat(171) },
      'access_token must be at most 512 bytes (UTF-8)',
    ],
    [
      'instance_url over 255 bytes',
      { instance_url: `https://${'a'.repeat(250)}.example` },
      'instance_url must be at most 255 bytes (UTF-8)',
    ],
    [
      'callback_url over 1024 bytes',
      { callback_url: `https://push.example.com/${'a'.repeat(1000)}` },
      'callback_url must be at most 1024 bytes (UTF-8)',
    ],
    [
      'tag with a lone surrogate',
      { tag: 'a\ud800b' },
      'tag must be well-formed Unicode text (no lone surrogates)',
    ],
    ['tag with NUL', { tag: 'a\u0000b' }, 'tag must not contain control characters'],
    [
      'access_token with a lone surrogate',
      { access_token: 'a\ud800b' },
      'access_token must be well-formed Unicode text (no lone surrogates)',
    ],
    [
      'callback_url with a lone surrogate',
      { callback_url: 'https://push.example.com/\udc00' },
      'callback_url must be well-formed Unicode text (no lone surrogates)',
    ],
    [
      'app_secret with a lone surrogate',
      { app_secret: 's\ud800' },
      'app_secret must be well-formed Unicode text (no lone surrogates)',
    ],
    [
      'access_token outside ASCII',
      { access_token: 'tökén' },
      'access_token must be printable ASCII without spaces or any of ? & = /',
    ],
    [
      'access_token with a no-break space',
      { access_token: 'abc\u00a0def' },
      'access_token must be printable ASCII without spaces or any of ? & = /',
    ],
    ...[
      ['U+202E right-to-left override', '\u202e'],
      ['a zero-width space', '\u200b'],
      ['a zero-width joiner', '\u200d'],
      ['a byte order mark', '\ufeff'],
      ['a soft hyphen', '\u00ad'],
      ['U+2028 line separator', '\u2028'],
      ['U+2029 paragraph separator', '\u2029'],
    ].flatMap(([name, character]): [string, Record<string, string>, string][] => [
      [
        `tag with ${name}`,
        { tag: `user${character}42` },
        'tag must not contain invisible formatting characters',
      ],
      [
        `app_id with ${name}`,
        { app_id: `app${character}one` },
        'app_id must not contain invisible formatting characters',
      ],
    ]),
    ['app_id with a newline', { app_id: 'app\none' }, 'app_id must not contain control characters'],
    [
      'access_token with ?',
      { access_token: 'abc?def' },
      'access_token must be printable ASCII without spaces or any of ? & = /',
    ],
    [
      'access_token with &',
      { access_token: 'abc&stream=user' },
      'access_token must be printable ASCII without spaces or any of ? & = /',
    ],
    [
      'access_token with /',
      { access_token: 'abc/def' },
      'access_token must be printable ASCII without spaces or any of ? & = /',
    ],
    [
      'access_token with a space',
      { access_token: 'abc def' },
      'access_token must be printable ASCII without spaces or any of ? & = /',
    ],
    [
      'access_token with a tab',
      { access_token: 'abc\tdef' },
      'access_token must be printable ASCII without spaces or any of ? & = /',
    ],
    [
      'instance_url without scheme',
      { instance_url: 'mastodon.example' },
      'instance_url must be an http:// or https:// origin such as https://mastodon.example',
    ],
    [
      'instance_url with ftp',
      { instance_url: 'ftp://mastodon.example' },
      'instance_url must be an http:// or https:// origin such as https://mastodon.example',
    ],
    [
      'instance_url with a path',
      { instance_url: 'https://mastodon.example/api' },
      'instance_url must be an origin without path, query or fragment, such as https://mastodon.example',
    ],
    [
      'instance_url with a query',
      { instance_url: 'https://mastodon.example/?x=1' },
      'instance_url must be an origin without path, query or fragment, such as https://mastodon.example',
    ],
    [
      'instance_url with a fragment',
      { instance_url: 'https://mastodon.example#x' },
      'instance_url must be an origin without path, query or fragment, such as https://mastodon.example',
    ],
    [
      'instance_url with credentials',
      { instance_url: 'https://a:b@mastodon.example' },
      'instance_url must not contain credentials',
    ],
    [
      'instance_url with spaces',
      { instance_url: ' https://mastodon.example' },
      'instance_url must not contain whitespace or control characters',
    ],
    [
      'callback_url not a URL',
      { callback_url: 'push.example.com/cb' },
      'callback_url must be an http:// or https:// URL',
    ],
    [
      'callback_url with another scheme',
      { callback_url: 'file:///etc/passwd' },
      'callback_url must be an http:// or https:// URL',
    ],
    [
      'callback_url with whitespace',
      { callback_url: 'https://push.example.com/a b' },
      'callback_url must not contain whitespace or control characters',
    ],
    [
      'unknown endpoint',
      { endpoint: 'public' },
      'endpoint must be one of user, user:notification, direct',
    ],
    ['empty endpoint', { endpoint: '' }, 'endpoint must be one of user, user:notification, direct'],
    ['numeric endpoint', { endpoint: 1 }, 'endpoint must be a string'],
    ['unknown transport', { transport: 'sms' }, 'transport must be one of stream, webpush'],
    ['numeric transport', { transport: 2 }, 'transport must be a string'],
  ])('refuses %s', async (_case, change, message) => {
    expect(await messageFor({ ...valid, ...change })).toBe(message);
  });

  it('accepts both transports', async () => {
    for (const transport of ['stream', 'webpush']) {
      const dto = (await pipe.transform({ ...valid, transport }, asRegisterBody)) as RegisterDto;
      expect(dto.transport).toBe(transport);
    }
  });

  it('never puts a value in the message', async () => {
    const message = await messageFor({ ...valid, access_token: 'SECRET-TOKEN?x' });
    expect(message).not.toContain('SECRET-TOKEN');
  });
});

describe('UnregisterDto validation', () => {
  const key = {
    instance_url: valid.instance_url,
    tag: valid.tag,
    app_id: valid.app_id,
    app_secret: valid.app_secret,
  };

  it('accepts the key and the secret, ignoring register-only fields', async () => {
    const dto = (await pipe.transform(
      { ...key, access_token: 'x', callback_url: 'y' },
      asUnregisterBody,
    )) as UnregisterDto;
    expect({ ...dto }).toEqual(key);
  });

  it.each<[Record<string, unknown>, string]>([
    [{ instance_url: undefined }, 'instance_url is required'],
    [
      { instance_url: 'https://mastodon.example/x' },
      'instance_url must be an origin without path, query or fragment, such as https://mastodon.example',
    ],
    [{ tag: '日'.repeat(86) }, 'tag must be at most 255 bytes (UTF-8)'],
    [{ app_id: 7 }, 'app_id must be a string'],
    [{ app_secret: '' }, 'app_secret must not be empty'],
  ])('refuses %j', async (change, message) => {
    expect(await messageFor({ ...key, ...change }, asUnregisterBody)).toBe(message);
  });
});
