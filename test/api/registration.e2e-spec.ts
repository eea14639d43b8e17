import { randomBytes } from 'node:crypto';
import { RegistrationEntity } from '@app/database';
import { hashSecret, TokenCipher } from '@app/security';
import { AppProcess, freePort, writeConfigDir } from '../support/app-process';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { Answer, ApiClient, formBody, rawHttpExchange } from './support/http-client';
import { allRegistrationRows, registrationRow } from './support/registration-table';

const APP_A = { id: 'app.a', secret: 'secret-A-6f1d2c-Ω' };
const APP_B = { id: 'app.b', secret: 'secret-B-93ab7e' };
const APP_C = { id: 'app.c', secret: 'secret-C-41d0aa' };
const FOLDER_PREFIX = 'http://127.0.0.1:5341/cb/';
const ENCRYPTION_KEY = randomBytes(32);
const BODY_LIMIT = 4096;

const APP_MAP = {
  // with prefixes: callbacks must match one, and are then trusted (so a loopback prefix works)
  [APP_A.id]: {
    secret: APP_A.secret,
    callbackUrlPrefix: ['https://push.example.com/', 'http://127.0.0.1:'],
  },
  // without: callbacks must be public addresses
  [APP_B.id]: { secret: APP_B.secret },
  // a prefix with a folder: callbacks must stay inside it
  [APP_C.id]: { secret: APP_C.secret, callbackUrlPrefix: FOLDER_PREFIX },
};
const INSTANCE_MAP = {
  'https://mastodon.example': {},
  'https://restricted.example': { appIdAllowed: APP_B.id },
  'http://127.0.0.1:9': { allowPrivateAddress: true },
  'http://10.0.0.7': { replaceUrl: 'http://10.0.0.7:4000', replaceUrlWeb: 'http://10.0.0.7:3000' },
  'http://192.168.1.20': {},
  '*': { appIdAllowed: APP_B.id },
};

/** Every token and secret this suite sends; none may ever come back in an answer or a log line. */
const sentSecrets = new Set<string>([APP_A.secret, APP_B.secret, APP_C.secret]);

function newToken(): string {
  const token = `tok-${randomBytes(12).toString('hex')}`;
  sentSecrets.add(token);
  return token;
}

function registration(
  overrides: Record<string, string | string[] | undefined> = {},
): Record<string, string | string[] | undefined> {
  return {
    instance_url: 'https://mastodon.example',
    tag: `tag-${randomBytes(4).toString('hex')}`,
    app_id: APP_A.id,
    app_secret: APP_A.secret,
    access_token: newToken(),
    callback_url: 'https://push.example.com/callback',
    ...overrides,
  };
}

function expectError(answer: Answer, status: number, message: string | RegExp): void {
  expect({ status: answer.status, contentType: answer.contentType }).toEqual({
    status,
    contentType: expect.stringMatching(/^application\/json/),
  });
  const body = answer.json as { statusCode: number; error: string; message: string };
  expect(Object.keys(body).sort()).toEqual(['error', 'message', 'statusCode']);
  expect(body.statusCode).toBe(status);
  expect(typeof body.error).toBe('string');
  if (typeof message === 'string') expect(body.message).toBe(message);
  else expect(body.message).toMatch(message);
  for (const secret of sentSecrets) expect(answer.text).not.toContain(secret);
}

describe('registration API (POST /register, POST /unregister)', () => {
  let db: TestDatabase;
  let api: AppProcess;
  let client: ApiClient;
  const cipher = new TokenCipher(ENCRYPTION_KEY);

  beforeAll(async () => {
    db = await createTestDatabase();
    const port = await freePort();
    api = await AppProcess.start('api', {
      ...db.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      CONFIG_DIR: writeConfigDir(APP_MAP, INSTANCE_MAP),
      LOG_LEVEL: 'debug',
      TOKEN_ENCRYPTION_KEY: ENCRYPTION_KEY.toString('hex'),
      API_BODY_LIMIT_BYTES: String(BODY_LIMIT),
    });
    client = new ApiClient(`http://127.0.0.1:${port}`);
  });

  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  async function rowFor(fields: Record<string, unknown>): Promise<RegistrationEntity | null> {
    return registrationRow(db.dataSource, {
      instanceUrl: String(fields.instance_url).toLowerCase().replace(/\/$/, ''),
      appId: String(fields.app_id),
      tag: String(fields.tag),
    });
  }

  describe('registering', () => {
    it('takes a form body as existing app servers send it, and stores it safely', async () => {
      const fields = registration({
        instance_url: 'HTTPS://Mastodon.Example/',
        extra_field: 'ignored',
      });
      const before = Date.now();
      const answer = await client.postForm('/register', fields);
      expect(answer.status).toBe(202);
      expect(answer.json).toEqual({ status: 'registered' });

      const row = await rowFor(fields);
      expect(row).toMatchObject({
        instanceUrl: 'https://mastodon.example',
        appId: APP_A.id,
        tag: fields.tag,
        callbackUrl: 'https://push.example.com/callback',
        endpoint: null,
      });
      // the secret only as a hash, the token only sealed with TOKEN_ENCRYPTION_KEY
      expect(row!.appSecret).toBe(hashSecret(APP_A.secret));
      expect(row!.appSecret).not.toContain(APP_A.secret);
      expect(row!.accessToken).not.toContain(String(fields.access_token));
      expect(cipher.open(row!.accessToken)).toBe(fields.access_token);
      expect(row!.lastUpdate).toBeGreaterThanOrEqual(before);
      expect(row!.lastUpdate).toBeLessThanOrEqual(Date.now());
    });

    it('takes a JSON body with an endpoint', async () => {
      const fields = registration({ endpoint: 'user:notification', tag: 'json-日本語-😀' });
      const answer = await client.postJson('/register', {
        ...fields,
        unknown_number: 5,
        nested: { a: 1 },
      });
      expect(answer.status).toBe(202);
      expect(answer.json).toEqual({ status: 'registered' });
      const row = await rowFor(fields);
      expect(row).toMatchObject({ tag: 'json-日本語-😀', endpoint: 'user:notification' });
      expect(cipher.open(row!.accessToken)).toBe(fields.access_token);
    });

    it('accepts values of exactly the byte limits (85 × 日 = 255 bytes)', async () => {
      const fields = registration({
        tag: '日'.repeat(85),
        access_token: 'a'.repeat(512),
        endpoint: 'direct',
      });
      sentSecrets.add('a'.repeat(512));
      expect((await client.postForm('/register', fields)).status).toBe(202);
      expect((await rowFor(fields))?.endpoint).toBe('direct');
    });

    it('updates the same row when registering the same key again', async () => {
      const first = registration();
      expect((await client.postForm('/register', first)).status).toBe(202);
      const created = (await rowFor(first))!;
      const count = (await allRegistrationRows(db.dataSource)).length;

      await waitFor(() => Date.now() > created.lastUpdate, { what: 'the clock to move on' });
      const second = {
        ...first,
        instance_url: 'https://mastodon.example/',
        access_token: newToken(),
        callback_url: 'https://push.example.com/other',
        endpoint: 'direct',
      };
      const answer = await client.postJson('/register', second);
      expect(answer.status).toBe(202);

      const updated = (await rowFor(first))!;
      expect(updated.id).toBe(created.id);
      expect(updated.lastUpdate).toBeGreaterThan(created.lastUpdate);
      expect(cipher.open(updated.accessToken)).toBe(second.access_token);
      expect(updated.callbackUrl).toBe('https://push.example.com/other');
      expect(updated.endpoint).toBe('direct');
      expect((await allRegistrationRows(db.dataSource)).length).toBe(count);
    });

    it('stores a callback URL normalised, inside its prefix folder', async () => {
      const fields = registration({
        app_id: APP_C.id,
        app_secret: APP_C.secret,
        callback_url: 'HTTP://127.0.0.1:5341/cb/a/./b/../%2e%2e/user-7',
      });
      expect((await client.postForm('/register', fields)).status).toBe(202);
      expect((await rowFor(fields))?.callbackUrl).toBe('http://127.0.0.1:5341/cb/user-7');
    });

    it('lets an app without callbackUrlPrefix use a public callback, on an instance only it may use', async () => {
      const fields = registration({
        app_id: APP_B.id,
        app_secret: APP_B.secret,
        instance_url: 'https://restricted.example',
        callback_url: 'https://93.184.216.34/callback',
      });
      expect((await client.postForm('/register', fields)).status).toBe(202);
      expect(await rowFor(fields)).not.toBeNull();
    });

    it('allows a private instance address when its exact instance_map entry says so', async () => {
      const allowed = registration({
        instance_url: 'http://127.0.0.1:9',
        callback_url: 'http://127.0.0.1:8080/cb',
      });
      expect((await client.postForm('/register', allowed)).status).toBe(202);
      expect(await rowFor(allowed)).not.toBeNull();
      // replaceUrl and replaceUrlWeb both set: the instance URL itself is never contacted
      const routed = registration({ instance_url: 'http://10.0.0.7' });
      expect((await client.postForm('/register', routed)).status).toBe(202);
      expect(await rowFor(routed)).not.toBeNull();
    });
  });

  describe('unregistering', () => {
    it('removes the registration, and answers 202 again when there is nothing left', async () => {
      const fields = registration();
      expect((await client.postForm('/register', fields)).status).toBe(202);
      expect(await rowFor(fields)).not.toBeNull();

      const key = {
        instance_url: 'https://MASTODON.example/',
        tag: fields.tag,
        app_id: APP_A.id,
        app_secret: APP_A.secret,
      };
      const answer = await client.postForm('/unregister', { ...key, access_token: 'ignored-here' });
      expect(answer.status).toBe(202);
      expect(answer.json).toEqual({ status: 'unregistered' });
      expect(await rowFor(fields)).toBeNull();

      const again = await client.postJson('/unregister', key);
      expect(again.status).toBe(202);
      expect(again.json).toEqual({ status: 'unregistered' });
    });

    it('refuses a wrong secret or an unknown app and keeps the row', async () => {
      const fields = registration();
      expect((await client.postForm('/register', fields)).status).toBe(202);
      const key = { instance_url: fields.instance_url, tag: fields.tag, app_id: APP_A.id };
      expectError(
        await client.postForm('/unregister', { ...key, app_secret: APP_B.secret }),
        401,
        'app_secret does not match',
      );
      expectError(
        await client.postForm('/unregister', {
          ...key,
          app_id: 'app.unknown',
          app_secret: APP_A.secret,
        }),
        403,
        'app_id is not configured',
      );
      expectError(
        await client.postForm('/unregister', { ...key, app_secret: undefined }),
        400,
        'app_secret is required',
      );
      expectError(
        await client.postForm('/unregister', {
          ...key,
          instance_url: 'https://mastodon.example/x',
          app_secret: APP_A.secret,
        }),
        400,
        /^instance_url must be an origin without path/,
      );
      expectError(
        await client.postJson('/unregister', {
          ...key,
          tag: '日'.repeat(86),
          app_secret: APP_A.secret,
        }),
        400,
        'tag must be at most 255 bytes (UTF-8)',
      );
      expect(await rowFor(fields)).not.toBeNull();
    });
  });

  describe('refusing bad input, changing nothing', () => {
    type Send = () => Promise<Answer>;
    const form =
      (fields: Record<string, string | string[] | undefined>): Send =>
      () =>
        client.postForm('/register', fields);
    const json =
      (body: unknown): Send =>
      () =>
        client.postJson('/register', body);
    const raw =
      (body: string | Buffer, contentType: string | undefined): Send =>
      () =>
        client.postRaw('/register', body, contentType);
    const tooLong = 'https://push.example.com/' + 'a'.repeat(1000);
    const sendAppB = (overrides: Record<string, string>) =>
      form(registration({ app_id: APP_B.id, app_secret: APP_B.secret, ...overrides }));
    const sendAppC = (callbackUrl: string) =>
      form(registration({ app_id: APP_C.id, app_secret: APP_C.secret, callback_url: callbackUrl }));
    const escapes: [string, string, string | RegExp][] = [
      [
        '..',
        `${FOLDER_PREFIX}../admin`,
        'callback_url does not start with a callbackUrlPrefix configured for this app',
      ],
      [
        '%2e%2e',
        `${FOLDER_PREFIX}%2e%2e/admin`,
        'callback_url does not start with a callbackUrlPrefix configured for this app',
      ],
      [
        '.%2e',
        `${FOLDER_PREFIX}.%2e/admin`,
        'callback_url does not start with a callbackUrlPrefix configured for this app',
      ],
      [
        '%2E%2E%2F',
        `${FOLDER_PREFIX}%2E%2E%2Fadmin`,
        'callback_url must not contain encoded slashes, backslashes or dot segments',
      ],
      [
        'a backslash',
        `${FOLDER_PREFIX}..\\admin`,
        'callback_url does not start with a callbackUrlPrefix configured for this app',
      ],
      ['@', 'http://127.0.0.1:5341@evil.example/cb/', 'callback_url must not contain credentials'],
      ['#', 'http://127.0.0.1:5341/#/cb/x', 'callback_url must not contain a fragment (#)'],
      [
        'a longer port',
        'http://127.0.0.1:53410/cb/x',
        'callback_url does not start with a callbackUrlPrefix configured for this app',
      ],
      [
        'a longer folder',
        'http://127.0.0.1:5341/cbx/x',
        'callback_url does not start with a callbackUrlPrefix configured for this app',
      ],
    ];
    const invisible: [string, string][] = [
      ['U+202E right-to-left override', '\u202e'],
      ['a zero-width space', '\u200b'],
      ['a byte order mark', '\ufeff'],
      ['U+2028 line separator', '\u2028'],
    ];

    const cases: [string, () => Send, number, string | RegExp][] = [
      ...escapes.map(([name, url, message]): [string, () => Send, number, string | RegExp] => [
        `a callback escaping its prefix folder through ${name}`,
        () => sendAppC(url),
        400,
        message,
      ]),
      ...invisible.flatMap(([name, character]): [string, () => Send, number, string][] => [
        [
          `tag with ${name}`,
          () => json(registration({ tag: `user${character}42` })),
          400,
          'tag must not contain invisible formatting characters',
        ],
        [
          `app_id with ${name}`,
          () => json(registration({ app_id: `app${character}.a` })),
          400,
          'app_id must not contain invisible formatting characters',
        ],
      ]),
      [
        'access_token with a lone surrogate (JSON "\\ud800")',
        () => json(registration({ access_token: 'a\ud800b' })),
        400,
        'access_token must be well-formed Unicode text (no lone surrogates)',
      ],
      [
        'access_token outside printable ASCII',
        () => form(registration({ access_token: 'tök\u00e9n' })),
        400,
        'access_token must be printable ASCII without spaces or any of ? & = /',
      ],
      // missing and empty fields
      [
        'no body at all',
        () => () => client.postRaw('/register', '', undefined),
        400,
        'instance_url is required',
      ],
      [
        'missing instance_url',
        () => form(registration({ instance_url: undefined })),
        400,
        'instance_url is required',
      ],
      ['missing tag', () => form(registration({ tag: undefined })), 400, 'tag is required'],
      [
        'missing app_id',
        () => form(registration({ app_id: undefined })),
        400,
        'app_id is required',
      ],
      [
        'missing app_secret',
        () => form(registration({ app_secret: undefined })),
        400,
        'app_secret is required',
      ],
      [
        'missing access_token',
        () => form(registration({ access_token: undefined })),
        400,
        'access_token is required',
      ],
      [
        'missing callback_url',
        () => form(registration({ callback_url: undefined })),
        400,
        'callback_url is required',
      ],
      ['empty tag', () => form(registration({ tag: '' })), 400, 'tag must not be empty'],
      ['empty app_id', () => form(registration({ app_id: '' })), 400, 'app_id must not be empty'],
      [
        'empty access_token',
        () => form(registration({ access_token: '' })),
        400,
        'access_token must not be empty',
      ],
      ['null tag in JSON', () => json({ ...registration(), tag: null }), 400, 'tag is required'],
      // lengths in bytes, not characters
      [
        'tag of 86 × 日 (258 bytes) as form',
        () => form(registration({ tag: '日'.repeat(86) })),
        400,
        'tag must be at most 255 bytes (UTF-8)',
      ],
      [
        'tag of 86 × 日 (258 bytes) as JSON',
        () => json(registration({ tag: '日'.repeat(86) })),
        400,
        'tag must be at most 255 bytes (UTF-8)',
      ],
      [
        'app_id of 64 emoji (256 bytes)',
        () => form(registration({ app_id: '😀'.repeat(64) })),
        400,
        'app_id must be at most 255 bytes (UTF-8)',
      ],
      [
        'app_secret of 128 × é (256 bytes)',
        () => form(registration({ app_secret: 'é'.repeat(128) })),
        400,
        'app_secret must be at most 255 bytes (UTF-8)',
      ],
      [
        'instance_url over 255 bytes',
        () => form(registration({ instance_url: `https://${'ü'.repeat(125)}.example` })),
        400,
        'instance_url must be at most 255 bytes (UTF-8)',
      ],
      [
        'access_token of 171 × 日 (513 bytes)',
        () => form(registration({ access_token: '日'.repeat(171) })),
        400,
        'access_token must be at most 512 bytes (UTF-8)',
      ],
      [
        'callback_url over 1024 bytes',
        () => form(registration({ callback_url: tooLong })),
        400,
        'callback_url must be at most 1024 bytes (UTF-8)',
      ],
      // characters
      [
        'access_token with &',
        () => form(registration({ access_token: 'abc&stream=public' })),
        400,
        'access_token must be printable ASCII without spaces or any of ? & = /',
      ],
      [
        'access_token with /',
        () => form(registration({ access_token: 'abc/def' })),
        400,
        'access_token must be printable ASCII without spaces or any of ? & = /',
      ],
      [
        'access_token with a space',
        () => form(registration({ access_token: 'abc def' })),
        400,
        'access_token must be printable ASCII without spaces or any of ? & = /',
      ],
      [
        'tag with NUL',
        () => json(registration({ tag: 'a\u0000b' })),
        400,
        'tag must not contain control characters',
      ],
      [
        'tag with a lone surrogate',
        () =>
          raw('{"instance_url":"https://mastodon.example","tag":"a\\ud800"}', 'application/json'),
        400,
        'tag must be well-formed Unicode text (no lone surrogates)',
      ],
      // wrong JSON types
      ['numeric tag', () => json({ ...registration(), tag: 42 }), 400, 'tag must be a string'],
      [
        'object app_id',
        () => json({ ...registration(), app_id: { $ne: '' } }),
        400,
        'app_id must be a string',
      ],
      [
        'list access_token',
        () => json({ ...registration(), access_token: ['a', 'b'] }),
        400,
        'access_token must be given once, as a string',
      ],
      [
        'boolean instance_url',
        () => json({ ...registration(), instance_url: true }),
        400,
        'instance_url must be a string',
      ],
      [
        'numeric endpoint',
        () => json({ ...registration(), endpoint: 1 }),
        400,
        'endpoint must be a string',
      ],
      // malformed bodies
      [
        'a JSON array',
        () => raw(JSON.stringify([registration()]), 'application/json'),
        400,
        'body must be a JSON object',
      ],
      [
        'a JSON string',
        () => raw('"register me"', 'application/json'),
        400,
        'body must be a JSON object',
      ],
      ['JSON null', () => raw('null', 'application/json'), 400, 'body must be a JSON object'],
      ['an empty JSON body', () => raw('', 'application/json'), 400, 'body must be a JSON object'],
      [
        'malformed JSON',
        () => raw(`{"access_token": "${newToken()}"`, 'application/json'),
        400,
        'body is not valid JSON',
      ],
      [
        'a __proto__ key',
        () => raw('{"__proto__": {"admin": true}}', 'application/json'),
        400,
        'body is not valid JSON',
      ],
      [
        'non-UTF-8 JSON',
        () =>
          raw(
            Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
            'application/json',
          ),
        400,
        'body must be UTF-8 text',
      ],
      [
        'non-UTF-8 bytes in a form',
        () =>
          raw(
            Buffer.concat([
              Buffer.from('instance_url=https://mastodon.example&tag='),
              Buffer.from([0xe9, 0x74, 0xe9]),
            ]),
            'application/x-www-form-urlencoded',
          ),
        400,
        'body must be UTF-8 text',
      ],
      [
        'a non-UTF-8 %-escape in a form',
        () =>
          raw(
            'instance_url=https%3A%2F%2Fmastodon.example&tag=%E9t%E9',
            'application/x-www-form-urlencoded',
          ),
        400,
        'tag must be %-encoded UTF-8',
      ],
      [
        'a repeated form field',
        () => form(registration({ tag: ['one', 'two'] })),
        400,
        'tag must be given once, as a string',
      ],
      // size and type of the body
      [
        'a JSON body over the limit',
        () => () =>
          client.postInOneWrite(
            '/register',
            JSON.stringify({ ...registration(), padding: 'x'.repeat(BODY_LIMIT * 2) }),
            'application/json',
          ),
        413,
        `body must be at most ${BODY_LIMIT} bytes`,
      ],
      [
        'a form body over the limit',
        () => () =>
          client.postInOneWrite(
            '/register',
            formBody(registration({ padding: 'x'.repeat(BODY_LIMIT * 2) })),
            'application/x-www-form-urlencoded',
          ),
        413,
        `body must be at most ${BODY_LIMIT} bytes`,
      ],
      [
        'text/plain',
        () => raw('instance_url=https://mastodon.example', 'text/plain'),
        415,
        'Content-Type must be application/x-www-form-urlencoded or application/json',
      ],
      [
        'application/xml',
        () => raw('<register/>', 'application/xml'),
        415,
        'Content-Type must be application/x-www-form-urlencoded or application/json',
      ],
      [
        'multipart/form-data',
        () => raw('--x\r\n\r\n--x--', 'multipart/form-data; boundary=x'),
        415,
        'Content-Type must be application/x-www-form-urlencoded or application/json',
      ],
      // app, secret, instance
      [
        'an unknown app',
        () => form(registration({ app_id: 'app.unknown' })),
        403,
        'app_id is not configured',
      ],
      [
        'a wrong secret',
        () => form(registration({ app_secret: APP_B.secret })),
        401,
        'app_secret does not match',
      ],
      [
        'a secret that only shares a prefix',
        () => form(registration({ app_secret: `${APP_A.secret}x` })),
        401,
        'app_secret does not match',
      ],
      [
        'an instance the app may not use',
        () => form(registration({ instance_url: 'https://restricted.example' })),
        403,
        'instance_url is not allowed: app is not allowed on this instance',
      ],
      [
        'an instance only "*" covers, for another app',
        () => form(registration({ instance_url: 'https://other.example' })),
        403,
        'instance_url is not allowed: app is not allowed on this instance',
      ],
      // private instance addresses
      [
        'instance http://localhost',
        () =>
          sendAppB({
            instance_url: 'http://localhost:3000',
            callback_url: 'https://93.184.216.34/cb',
          }),
        400,
        /^instance_url must not be a loopback, private or link-local address/,
      ],
      [
        'instance http://127.0.0.1',
        () =>
          sendAppB({ instance_url: 'http://127.0.0.1', callback_url: 'https://93.184.216.34/cb' }),
        400,
        /^instance_url must not be a loopback, private or link-local address/,
      ],
      [
        'instance http://[::1]',
        () =>
          sendAppB({ instance_url: 'http://[::1]:3000', callback_url: 'https://93.184.216.34/cb' }),
        400,
        /^instance_url must not be a loopback, private or link-local address/,
      ],
      [
        'instance http://169.254.169.254',
        () =>
          sendAppB({
            instance_url: 'http://169.254.169.254',
            callback_url: 'https://93.184.216.34/cb',
          }),
        400,
        /^instance_url must not be a loopback, private or link-local address/,
      ],
      [
        'a private instance whose exact entry does not allow it',
        () => form(registration({ instance_url: 'http://192.168.1.20' })),
        400,
        /^instance_url must not be a loopback, private or link-local address/,
      ],
      // callbacks
      [
        'a loopback callback without prefix',
        () => sendAppB({ callback_url: 'http://127.0.0.1:8080/cb' }),
        400,
        'callback_url resolves to a loopback, private or link-local address',
      ],
      [
        'a private callback without prefix',
        () => sendAppB({ callback_url: 'http://10.1.2.3/cb' }),
        400,
        'callback_url resolves to a loopback, private or link-local address',
      ],
      [
        'a localhost callback without prefix',
        () => sendAppB({ callback_url: 'http://localhost/cb' }),
        400,
        'callback_url resolves to a loopback, private or link-local address',
      ],
      [
        'an IPv6 link-local callback',
        () => sendAppB({ callback_url: 'http://[fe80::1]/cb' }),
        400,
        'callback_url resolves to a loopback, private or link-local address',
      ],
      [
        'a callback outside the prefixes',
        () => form(registration({ callback_url: 'https://evil.example/cb' })),
        400,
        'callback_url does not start with a callbackUrlPrefix configured for this app',
      ],
      [
        'a callback with credentials',
        () => form(registration({ callback_url: 'https://user:pw@push.example.com/cb' })),
        400,
        'callback_url must not contain credentials',
      ],
      [
        'an ftp callback',
        () => form(registration({ callback_url: 'ftp://push.example.com/cb' })),
        400,
        'callback_url must be an http:// or https:// URL',
      ],
      [
        'a callback that is not a URL',
        () => form(registration({ callback_url: 'push.example.com/cb' })),
        400,
        'callback_url must be an http:// or https:// URL',
      ],
      // endpoint
      [
        'an unknown endpoint',
        () => form(registration({ endpoint: 'public' })),
        400,
        'endpoint must be one of user, user:notification, direct',
      ],
      [
        'an empty endpoint',
        () => form(registration({ endpoint: '' })),
        400,
        'endpoint must be one of user, user:notification, direct',
      ],
      // instance_url shapes
      [
        'instance_url without scheme',
        () => form(registration({ instance_url: 'mastodon.example' })),
        400,
        'instance_url must be an http:// or https:// origin such as https://mastodon.example',
      ],
      [
        'instance_url with ftp',
        () => form(registration({ instance_url: 'ftp://mastodon.example' })),
        400,
        'instance_url must be an http:// or https:// origin such as https://mastodon.example',
      ],
      [
        'instance_url with a path',
        () => form(registration({ instance_url: 'https://mastodon.example/api/v1' })),
        400,
        'instance_url must be an origin without path, query or fragment, such as https://mastodon.example',
      ],
      [
        'instance_url with a query',
        () => form(registration({ instance_url: 'https://mastodon.example?x=1' })),
        400,
        'instance_url must be an origin without path, query or fragment, such as https://mastodon.example',
      ],
      [
        'instance_url with a fragment',
        () => form(registration({ instance_url: 'https://mastodon.example/#x' })),
        400,
        'instance_url must be an origin without path, query or fragment, such as https://mastodon.example',
      ],
      [
        'instance_url with credentials',
        () => form(registration({ instance_url: 'https://me:pw@mastodon.example' })),
        400,
        'instance_url must not contain credentials',
      ],
      [
        'instance_url with a space',
        () => form(registration({ instance_url: 'https://mastodon.example /' })),
        400,
        'instance_url must not contain whitespace or control characters',
      ],
    ];

    let baseline: RegistrationEntity[];

    beforeAll(async () => {
      expect((await client.postForm('/register', registration({ tag: 'baseline' }))).status).toBe(
        202,
      );
      baseline = await allRegistrationRows(db.dataSource);
    });

    it.each(cases)('%s', async (_name, makeRequest, status, message) => {
      const answer = await makeRequest()();
      expectError(answer, status, message);
      expect(await allRegistrationRows(db.dataSource)).toEqual(baseline);
    });

    it('answers a chunked body over the limit with 413 too', async () => {
      const chunk = `{"padding":"${'x'.repeat(BODY_LIMIT * 2)}"}`;
      const request = Buffer.from(
        'POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
          'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
          `${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
      );
      expectError(
        await rawHttpExchange(client.port, request),
        413,
        `body must be at most ${BODY_LIMIT} bytes`,
      );
      expect(await allRegistrationRows(db.dataSource)).toEqual(baseline);
    });
  });

  describe('the rest of the API', () => {
    it('answers GET / with 204 and no body', async () => {
      const answer = await client.get('/');
      expect(answer.status).toBe(204);
      expect(answer.text).toBe('');
    });

    it('answers GET /health with the database up', async () => {
      const answer = await client.get('/health');
      expect(answer.status).toBe(200);
      expect(answer.json).toEqual({ status: 'ok', database: 'up' });
    });

    it('answers an unknown route with JSON 404, without the query string', async () => {
      const token = newToken();
      const answer = await client.get(`/v2/register?access_token=${token}`);
      expectError(answer, 404, 'no route for GET /v2/register');
      expectError(await client.get('/register'), 404, 'no route for GET /register');
    });

    it('answers a path with a broken %-escape with the same JSON error shape', async () => {
      expectError(await client.get('/%zz'), 400, 'URL path is not valid: it has a broken %-escape');
    });

    it('serves Swagger UI at /docs', async () => {
      const answer = await client.get('/docs');
      expect(answer.status).toBe(200);
      expect(answer.contentType).toMatch(/^text\/html/);
      expect(answer.text).toContain('swagger');
    });

    it('serves the OpenAPI document at /docs-json, with both bodies and every answer', async () => {
      const answer = await client.get('/docs-json');
      expect(answer.status).toBe(200);
      const document = answer.json as {
        paths: Record<
          string,
          Record<
            string,
            {
              requestBody?: { content: Record<string, unknown> };
              responses: Record<string, unknown>;
            }
          >
        >;
        components: {
          schemas: Record<string, { properties: Record<string, unknown>; required?: string[] }>;
        };
      };
      for (const path of ['/register', '/unregister']) {
        const operation = document.paths[path].post;
        expect(Object.keys(operation.requestBody!.content).sort()).toEqual([
          'application/json',
          'application/x-www-form-urlencoded',
        ]);
        expect(Object.keys(operation.responses).sort()).toEqual([
          '202',
          '400',
          '401',
          '403',
          '413',
          '415',
          '503',
        ]);
      }
      expect(Object.keys(document.paths['/health'].get.responses).sort()).toEqual(['200', '503']);
      expect(Object.keys(document.paths['/'].get.responses)).toEqual(['204']);
      const register = document.components.schemas.RegisterDto;
      expect(Object.keys(register.properties)).toEqual([
        'instance_url',
        'tag',
        'app_id',
        'app_secret',
        'access_token',
        'callback_url',
        'endpoint',
        'transport',
      ]);
      expect(register.required?.sort()).toEqual([
        'access_token',
        'app_id',
        'app_secret',
        'callback_url',
        'instance_url',
        'tag',
      ]);
      expect(Object.keys(document.components.schemas.UnregisterDto.properties)).toEqual([
        'instance_url',
        'tag',
        'app_id',
        'app_secret',
      ]);
      const status = document.paths['/status'].post;
      expect(Object.keys(status.requestBody!.content).sort()).toEqual([
        'application/json',
        'application/x-www-form-urlencoded',
      ]);
      expect(Object.keys(status.responses).sort()).toEqual([
        '200',
        '400',
        '401',
        '403',
        '404',
        '413',
        '415',
        '503',
      ]);
      const answerSchema = document.components.schemas.RegistrationStatusDto.properties as Record<
        string,
        { example?: unknown; enum?: unknown[] }
      >;
      expect(Object.keys(answerSchema).sort()).toEqual(
        [
          'endpoint',
          'expiresAt',
          'lastError',
          'lastRelayedAt',
          'removalReason',
          'since',
          'state',
          'transport',
        ].sort(),
      );
      expect(answerSchema.state.enum).toEqual([
        'connecting',
        'streaming',
        'subscribed',
        'retrying',
        'unauthorized',
        'removed',
      ]);
      expect(answerSchema.removalReason.enum).toEqual([
        'revoked',
        'scope',
        'expired',
        'config',
        'gone',
      ]);
      for (const [name, property] of Object.entries(answerSchema))
        expect({ name, example: property.example !== undefined }).toEqual({ name, example: true });
      expect(JSON.stringify(document.components.schemas.RegistrationStatusDto)).not.toMatch(
        /token"|access_token/,
      );
      expect(Object.keys(document.components.schemas.ErrorResponseDto.properties).sort()).toEqual([
        'error',
        'message',
        'statusCode',
      ]);
    });

    it('counts requests by route pattern and registrations by outcome in /metrics', async () => {
      const text = (await client.get('/metrics')).text;
      const value = (series: string): number => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        return line ? Number(line.split(' ')[1]) : 0;
      };
      expect(
        value('msl_registrations_total{action="register",outcome="created"}'),
      ).toBeGreaterThanOrEqual(8);
      expect(
        value('msl_registrations_total{action="register",outcome="updated"}'),
      ).toBeGreaterThanOrEqual(1);
      expect(
        value('msl_registrations_total{action="register",outcome="invalid"}'),
      ).toBeGreaterThanOrEqual(50);
      expect(
        value('msl_registrations_total{action="register",outcome="unauthorized"}'),
      ).toBeGreaterThanOrEqual(2);
      expect(
        value('msl_registrations_total{action="register",outcome="forbidden"}'),
      ).toBeGreaterThanOrEqual(3);
      expect(
        value('msl_registrations_total{action="unregister",outcome="removed"}'),
      ).toBeGreaterThanOrEqual(1);
      expect(
        value('msl_registrations_total{action="unregister",outcome="not_found"}'),
      ).toBeGreaterThanOrEqual(1);
      expect(
        value('msl_registrations_total{action="unregister",outcome="unauthorized"}'),
      ).toBeGreaterThanOrEqual(1);
      expect(
        value('msl_http_requests_total{method="POST",route="/register",status="202"}'),
      ).toBeGreaterThanOrEqual(8);
      expect(
        value('msl_http_requests_total{method="POST",route="/register",status="413"}'),
      ).toBeGreaterThanOrEqual(3);
      expect(
        value('msl_http_requests_total{method="POST",route="/register",status="415"}'),
      ).toBeGreaterThanOrEqual(3);
      expect(
        value('msl_http_requests_total{method="GET",route="unmatched",status="404"}'),
      ).toBeGreaterThanOrEqual(2);
      expect(
        value('msl_http_request_duration_seconds_count{method="POST",route="/register"}'),
      ).toBeGreaterThanOrEqual(60);
      // raw URLs never become labels
      expect(text).not.toContain('/v2/register');
    });

    it('never wrote a secret or a token to its log', async () => {
      // at debug level the log holds a line per request and per registration
      await waitFor(() => api.logs.includes('registration created'), {
        what: 'registration log lines',
      });
      for (const secret of sentSecrets) expect(api.logs).not.toContain(secret);
    });
  });
});
