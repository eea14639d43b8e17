import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from './config.error';
import { loadConfigMaps } from './config-maps';

describe('loadConfigMaps', () => {
  let dir: string;

  const write = (name: string, text: string) => fs.writeFileSync(path.join(dir, name), text);

  function refusal(): ConfigError {
    try {
      loadConfigMaps(dir);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
    throw new Error('expected the config to be refused');
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msl-maps-'));
  });

  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads both hjson files with comments, quoteless strings and every documented key', () => {
    write(
      'app_map.hjson',
      `{
        # an app
        jp.juggler.subwaytooter: {
          secret: s3cret
          callbackUrlPrefix: ["https://push.example.com/", "http://10.0.0.5:8080/"]
          webhookSecret: signing-key
        }
        other.app: { secret: "x", callbackUrlPrefix: "https://cb.example/" }
      }`,
    );
    write(
      'instance_map.hjson',
      `{
        "https://mastodon.example": {
          replaceUrl: "http://10.0.0.2:4000"
          replaceUrlWeb: "http://10.0.0.2:3000"
          endpoint: "user:notification"
          appIdAllowed: ["jp.juggler.subwaytooter"]
          maxConnections: 5000
          maxOpening: 20
          allowPrivateAddress: true
        }
        "*": { appIdAllowed: "other.app" }
      }`,
    );
    const maps = loadConfigMaps(dir);
    expect(maps.apps['jp.juggler.subwaytooter']).toEqual({
      secret: 's3cret',
      callbackUrlPrefix: ['https://push.example.com/', 'http://10.0.0.5:8080/'],
      webhookSecret: 'signing-key',
    });
    expect(maps.apps['other.app'].callbackUrlPrefix).toBe('https://cb.example/');
    expect(maps.instances['https://mastodon.example']).toEqual({
      replaceUrl: 'http://10.0.0.2:4000',
      replaceUrlWeb: 'http://10.0.0.2:3000',
      endpoint: 'user:notification',
      appIdAllowed: ['jp.juggler.subwaytooter'],
      maxConnections: 5000,
      maxOpening: 20,
      allowPrivateAddress: true,
    });
    expect(maps.instances['*'].appIdAllowed).toBe('other.app');
    expect(maps.files).toEqual({
      apps: path.join(dir, 'app_map.hjson'),
      instances: path.join(dir, 'instance_map.hjson'),
    });
    expect(maps.warnings).toEqual([]);
    expect(Object.isFrozen(maps.apps['other.app'])).toBe(true);
  });

  it('falls back to the .sample files with a warning for each', () => {
    write('app_map.hjson.sample', '{ app.one: { secret: "change-me" } }');
    write('instance_map.hjson.sample', '{ "*": {} }');
    const maps = loadConfigMaps(dir);
    expect(maps.files.apps).toBe(path.join(dir, 'app_map.hjson.sample'));
    expect(maps.apps['app.one'].secret).toBe('change-me');
    expect(maps.warnings).toHaveLength(2);
    expect(maps.warnings[0]).toContain(
      `${path.join(dir, 'app_map.hjson')} is missing: using app_map.hjson.sample`,
    );
    expect(maps.warnings[1]).toContain(
      `${path.join(dir, 'instance_map.hjson')} is missing: using instance_map.hjson.sample`,
    );
  });

  it("prefers the operator's file over the sample", () => {
    write('app_map.hjson', '{ mine: { secret: "a" } }');
    write('app_map.hjson.sample', '{ sample: { secret: "b" } }');
    write('instance_map.hjson', '{}');
    const maps = loadConfigMaps(dir);
    expect(Object.keys(maps.apps)).toEqual(['mine']);
    expect(maps.warnings).toEqual([]);
  });

  it('names a missing file', () => {
    write('instance_map.hjson', '{}');
    expect(refusal().message).toBe(
      `${path.join(dir, 'app_map.hjson')}: file not found (copy app_map.hjson.sample and edit it)`,
    );
  });

  it('names the file and the line of an hjson syntax error, on one line', () => {
    write('app_map.hjson', '{\n  app.one: {\n    secret: "x"\n  \n');
    write('instance_map.hjson', '{}');
    const message = refusal().message;
    expect(message.startsWith(`${path.join(dir, 'app_map.hjson')}: `)).toBe(true);
    expect(message).toMatch(/at line \d+,\d+/);
    expect(message).not.toContain('\n');
  });

  it('does not quote the broken line, which may hold a secret', () => {
    write('app_map.hjson', '{\n  app.one: { secret: "very-secret-value" ]\n}\n');
    write('instance_map.hjson', '{}');
    const message = refusal().message;
    expect(message).toMatch(/at line \d+,\d+/);
    expect(message).not.toContain('very-secret-value');
  });

  it('names instance_map.hjson when that one is broken', () => {
    write('app_map.hjson', '{}');
    write('instance_map.hjson', '{\n "*": {\n}\n}\n}');
    expect(refusal().message).toMatch(
      new RegExp(`^${path.join(dir, 'instance_map.hjson')}: .*line 5`),
    );
  });

  it.each([
    ['a list instead of an object', '[1, 2]', 'must be an object of entries'],
    [
      'an entry that is not an object',
      '{ app.one: "secret" }',
      'entry "app.one" must be an object',
    ],
    [
      'a missing secret',
      '{ app.one: { webhookSecret: "w" } }',
      'entry "app.one": secret should not be empty',
    ],
    [
      'an empty secret',
      '{ app.one: { secret: "" } }',
      'entry "app.one": secret should not be empty',
    ],
    ['a numeric secret', '{ app.one: { secret: 42 } }', 'entry "app.one": secret must be a string'],
    [
      'a prefix list with a number',
      '{ app.one: { secret: "s", callbackUrlPrefix: ["https://a/", 5] } }',
      'entry "app.one": callbackUrlPrefix must be a string or a list of strings',
    ],
    [
      'a prefix that is not a URL',
      '{ app.one: { secret: "s", callbackUrlPrefix: "push.example.com/cb" } }',
      'entry "app.one": callbackUrlPrefix "push.example.com/cb" is not a valid URL',
    ],
    [
      'a prefix with a query',
      '{ app.one: { secret: "s", callbackUrlPrefix: ["https://a/", "https://b/cb?app=1"] } }',
      'entry "app.one": callbackUrlPrefix "https://b/cb?app=1" must not contain a query or a fragment',
    ],
  ])('refuses app_map with %s, naming the entry and key', (_case, text, expected) => {
    write('app_map.hjson', text);
    write('instance_map.hjson', '{}');
    expect(refusal().message).toBe(`${path.join(dir, 'app_map.hjson')}: ${expected}`);
  });

  it.each([
    [
      'an unknown endpoint',
      '{ "*": { endpoint: "public" } }',
      'entry "*": endpoint must be one of the following values: user, user:notification, direct',
    ],
    [
      'a non-URL replaceUrl',
      '{ "*": { replaceUrl: "10.0.0.2:4000" } }',
      'entry "*": replaceUrl must be an http:// or https:// URL',
    ],
    [
      'a ws replaceUrlWeb',
      '{ "*": { replaceUrlWeb: "ws://10.0.0.2" } }',
      'entry "*": replaceUrlWeb must be an http:// or https:// URL',
    ],
    [
      'a fractional maxConnections',
      '{ "*": { maxConnections: 1.5 } }',
      'entry "*": maxConnections must be an integer number',
    ],
    [
      'a negative maxConnections',
      '{ "*": { maxConnections: -1 } }',
      'entry "*": maxConnections must not be less than 0',
    ],
    [
      'a zero maxOpening',
      '{ "*": { maxOpening: 0 } }',
      'entry "*": maxOpening must not be less than 1',
    ],
    [
      'a string allowPrivateAddress',
      '{ "*": { allowPrivateAddress: "yes" } }',
      'entry "*": allowPrivateAddress must be a boolean value',
    ],
    [
      'a numeric appIdAllowed',
      '{ "*": { appIdAllowed: 3 } }',
      'entry "*": appIdAllowed must be a string or a list of strings',
    ],
  ])('refuses instance_map with %s, naming the entry and key', (_case, text, expected) => {
    write('app_map.hjson', '{}');
    write('instance_map.hjson', text);
    expect(refusal().message).toBe(`${path.join(dir, 'instance_map.hjson')}: ${expected}`);
  });

  it.each([
    ['https://Mastodon.example', 'must be lower-case'],
    [
      'https://mastodon.example/',
      'must be an http(s) origin such as "https://mastodon.example" or "*"',
    ],
    [
      'https://mastodon.example/path',
      'must be an http(s) origin such as "https://mastodon.example" or "*"',
    ],
    ['mastodon.example', 'must be an http(s) origin such as "https://mastodon.example" or "*"'],
    [
      'ftp://mastodon.example',
      'must be an http(s) origin such as "https://mastodon.example" or "*"',
    ],
    ['**', 'must be an http(s) origin such as "https://mastodon.example" or "*"'],
  ])('refuses the instance key %j', (key, problem) => {
    write('app_map.hjson', '{}');
    write('instance_map.hjson', JSON.stringify({ [key]: {} }));
    expect(refusal().message).toBe(
      `${path.join(dir, 'instance_map.hjson')}: entry "${key}" ${problem}`,
    );
  });

  it('accepts origins with a port and "*" as instance keys', () => {
    write('app_map.hjson', '{}');
    write(
      'instance_map.hjson',
      JSON.stringify({ 'http://127.0.0.1:3000': {}, 'https://mastodon.example': {}, '*': {} }),
    );
    expect(Object.keys(loadConfigMaps(dir).instances).sort()).toEqual([
      '*',
      'http://127.0.0.1:3000',
      'https://mastodon.example',
    ]);
  });

  it('warns about unknown keys and ignores them', () => {
    write('app_map.hjson', '{ app.one: { secret: "s", secert: "typo" } }');
    write('instance_map.hjson', '{ "*": { maxconnections: 3 } }');
    const maps = loadConfigMaps(dir);
    expect(maps.warnings).toEqual([
      `${path.join(dir, 'app_map.hjson')}: entry "app.one" has unknown key "secert" (ignored)`,
      `${path.join(dir, 'instance_map.hjson')}: entry "*" has unknown key "maxconnections" (ignored)`,
    ]);
  });

  it('does not let an app id reach the object prototype', () => {
    write('app_map.hjson', '{ "__proto__": { secret: "s" }, constructor: { secret: "t" } }');
    write('instance_map.hjson', '{}');
    const maps = loadConfigMaps(dir);
    expect(({} as Record<string, unknown>).secret).toBeUndefined();
    expect(maps.apps.constructor).toEqual({ secret: 't' });
  });
});
