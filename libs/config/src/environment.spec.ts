import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from './config.error';
import { parseSettings, readEnvironment } from './environment';

const cwd = '/srv/msl';

function configError(env: Record<string, string>): ConfigError {
  try {
    parseSettings(env, cwd);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('parseSettings', () => {
  it('defaults to the embedded PostgreSQL and the documented values', () => {
    const settings = parseSettings({}, cwd);
    expect(settings.database).toEqual({
      kind: 'embedded',
      dialect: 'postgres',
      dataDir: path.resolve(cwd, 'data'),
      port: 5488,
      name: 'mastodon_streaming_listener',
      poolSize: 10,
      migrate: true,
    });
    expect(settings.configDir).toBe(path.resolve(cwd, 'config'));
    expect(settings.logLevel).toBe('info');
    expect(settings.registrationTtlHours).toBe(72);
    expect(settings.tokenEncryptionKey).toBeUndefined();
    expect(settings.api).toEqual({
      host: '0.0.0.0',
      port: 4002,
      bodyLimitBytes: 16_384,
      timeouts: { headersMs: 10_000, requestMs: 30_000, idleMs: 75_000, keepAliveMs: 72_000 },
    });
    expect(settings.listener.port).toBe(4102);
    expect(settings.listener.pollIntervalMs).toBe(5_000);
  });

  it('reads a server database and the documented variables', () => {
    const key = 'ab'.repeat(32);
    const settings = parseSettings(
      {
        DB_DIALECT: 'MariaDB',
        DB_HOST: 'db.internal',
        DB_PORT: '3306',
        DB_NAME: 'relay',
        DB_USER: 'relay',
        DB_PASS: 'pw',
        DB_MIGRATE: 'false',
        PORT: '0',
        LISTENER_PORT: '8081',
        CONFIG_DIR: 'etc/msl',
        LISTENER_POLL_INTERVAL_MS: '200',
        REGISTRATION_TTL_HOURS: '24',
        TOKEN_ENCRYPTION_KEY: key,
        API_BODY_LIMIT_BYTES: '4096',
        LOG_LEVEL: 'debug',
      },
      cwd,
    );
    expect(settings.database).toEqual({
      kind: 'server',
      dialect: 'mariadb',
      host: 'db.internal',
      port: 3306,
      name: 'relay',
      user: 'relay',
      password: 'pw',
      poolSize: 10,
      migrate: false,
    });
    expect(settings.api.port).toBe(0);
    expect(settings.api.bodyLimitBytes).toBe(4096);
    expect(settings.listener.port).toBe(8081);
    expect(settings.listener.pollIntervalMs).toBe(200);
    expect(settings.registrationTtlHours).toBe(24);
    expect(settings.configDir).toBe(path.resolve(cwd, 'etc/msl'));
    expect(settings.logLevel).toBe('debug');
    expect(settings.tokenEncryptionKey).toEqual(Buffer.from(key, 'hex'));
  });

  it('reads the api time limits and refuses combinations the server cannot honour', () => {
    const settings = parseSettings(
      {
        API_HEADERS_TIMEOUT_MS: '5000',
        API_REQUEST_TIMEOUT_MS: '20000',
        API_IDLE_TIMEOUT_MS: '90000',
        API_KEEP_ALIVE_TIMEOUT_MS: '60000',
      },
      cwd,
    );
    expect(settings.api.timeouts).toEqual({
      headersMs: 5_000,
      requestMs: 20_000,
      idleMs: 90_000,
      keepAliveMs: 60_000,
    });
    expect(() => parseSettings({ API_HEADERS_TIMEOUT_MS: '40000' }, cwd)).toThrow(
      'API_HEADERS_TIMEOUT_MS must not be larger than API_REQUEST_TIMEOUT_MS',
    );
    expect(() => parseSettings({ API_IDLE_TIMEOUT_MS: '1000' }, cwd)).toThrow(
      'API_IDLE_TIMEOUT_MS must not be smaller than API_KEEP_ALIVE_TIMEOUT_MS',
    );
    expect(() => parseSettings({ API_REQUEST_TIMEOUT_MS: 'soon' }, cwd)).toThrow(
      'API_REQUEST_TIMEOUT_MS must be a whole number from 100 to 600000 (got "soon")',
    );
  });

  it('uses postgres for a DB_HOST without a dialect, and accepts a base64 key', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const settings = parseSettings({ DB_HOST: 'db', TOKEN_ENCRYPTION_KEY: key }, cwd);
    expect(settings.database).toMatchObject({ kind: 'server', dialect: 'postgres', host: 'db' });
    expect(settings.tokenEncryptionKey).toEqual(Buffer.alloc(32, 7));
  });

  it('treats blank values as unset', () => {
    expect(parseSettings({ PORT: '  ', DB_HOST: '' }, cwd).api.port).toBe(4002);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '65536'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['LISTENER_PORT', 'x'],
    ['DB_PORT', '0'],
    ['LISTENER_POLL_INTERVAL_MS', '10'],
    ['REGISTRATION_TTL_HOURS', 'never'],
    ['API_BODY_LIMIT_BYTES', '100'],
    ['DB_POOL_SIZE', '0'],
    ['DB_MIGRATE', 'maybe'],
    ['LOG_LEVEL', 'verbose'],
    ['DB_DIALECT', 'oracle'],
    ['SHUTDOWN_TIMEOUT_MS', '1e3'],
  ])('refuses %s=%s with a message naming the variable and the value', (name, value) => {
    const env: Record<string, string> = { DB_HOST: 'db', [name]: value };
    const error = configError(env);
    expect(error.message.startsWith(`${name} `)).toBe(true);
    expect(error.message).toContain(`(got "${value}")`);
    expect(error.message).not.toContain('\n');
  });

  it('requires DB_HOST with a dialect', () => {
    expect(configError({ DB_DIALECT: 'postgres' }).message).toBe(
      'DB_HOST must be set when DB_DIALECT is "postgres"',
    );
  });

  it.each(['sqlite', 'SQLite3', 'better-sqlite3'])('refuses %s with a clear message', (dialect) => {
    const message = configError({ DB_DIALECT: dialect, DB_HOST: 'db' }).message;
    expect(message).toMatch(/^DB_DIALECT "sqlite" is not supported/);
    expect(message).toContain('postgres, mysql, mariadb or mssql');
  });

  it('never echoes a bad TOKEN_ENCRYPTION_KEY', () => {
    const message = configError({ TOKEN_ENCRYPTION_KEY: 'my-short-secret-key' }).message;
    expect(message).toMatch(/^TOKEN_ENCRYPTION_KEY must be 32 bytes/);
    expect(message).not.toContain('my-short-secret-key');
  });

  it('never echoes DB_PASS', () => {
    const settings = parseSettings({ DB_HOST: 'db', DB_PASS: 'p@ss word' }, cwd);
    expect(settings.database.kind === 'server' && settings.database.password).toBe('p@ss word');
    // an error in another variable does not carry the password either
    expect(configError({ DB_HOST: 'db', DB_PASS: 'p@ss word', PORT: 'x' }).message).not.toContain(
      'p@ss word',
    );
  });
});

describe('readEnvironment', () => {
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msl-env-'));
  });

  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads .env.production under the process environment, which wins', () => {
    fs.writeFileSync(path.join(dir, '.env.production'), 'PORT=5000\nDB_NAME=from_file\n');
    expect(readEnvironment({ PORT: '6000' }, dir)).toMatchObject({
      PORT: '6000',
      DB_NAME: 'from_file',
    });
  });

  it('reads the file named by ENV_FILE', () => {
    fs.writeFileSync(path.join(dir, 'other.env'), 'LOG_LEVEL=warn\n');
    expect(readEnvironment({ ENV_FILE: 'other.env' }, dir).LOG_LEVEL).toBe('warn');
  });

  it('refuses an ENV_FILE that does not exist, naming it', () => {
    expect(() => readEnvironment({ ENV_FILE: 'missing.env' }, dir)).toThrow(
      new ConfigError(`ENV_FILE: file not found: ${path.join(dir, 'missing.env')}`),
    );
  });

  it('is the environment alone without a file', () => {
    expect(readEnvironment({ PORT: '1' }, dir)).toEqual({ PORT: '1' });
  });
});
