import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { ConfigError } from './config.error';
import { DB_DIALECTS, LOG_FORMATS, LOG_LEVELS, type DbDialect, type LogFormat, type LogLevel, type Settings } from './settings';

type RawEnv = Record<string, string | undefined>;

/** Variables whose values must never be echoed in an error message. */
const SECRET_VARIABLES = new Set(['DB_PASS', 'TOKEN_ENCRYPTION_KEY', 'ADMIN_TOKEN']);

function envFilePath(env: RawEnv, cwd: string): string {
  return path.resolve(cwd, env.ENV_FILE?.trim() || '.env.production');
}

/** The env file that readEnvironment reads, when there is one. */
export function environmentFile(env: RawEnv = process.env, cwd = process.cwd()): string | undefined {
  const file = envFilePath(env, cwd);
  return fs.existsSync(file) ? file : undefined;
}

/**
 * Reads `.env.production` (or the file named by ENV_FILE) under the process
 * environment: a variable set in the environment wins over the file, as with
 * the original program's dotenv use.
 */
export function readEnvironment(env: RawEnv = process.env, cwd = process.cwd()): RawEnv {
  const named = env.ENV_FILE?.trim() || undefined;
  const file = envFilePath(env, cwd);
  if (!fs.existsSync(file)) {
    if (named) throw new ConfigError(`ENV_FILE: file not found: ${file}`);
    return { ...env };
  }
  let fromFile: Record<string, string>;
  try {
    fromFile = parseDotenv(fs.readFileSync(file));
  } catch (error) {
    throw new ConfigError(`${file}: cannot be read (${(error as Error).message})`);
  }
  return { ...fromFile, ...env };
}

/**
 * A 32-byte key written as 64 hex digits or 44 base64 characters (TOKEN_ENCRYPTION_KEY,
 * and the admin CLI's --from-key). The value is never echoed in the error.
 */
export function parseEncryptionKey(name: string, value: string): Buffer {
  const text = value.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (key.length !== 32) throw new ConfigError(`${name} must be 32 bytes, written as 64 hex digits or 44 base64 characters`);
  return key;
}

class EnvReader {
  constructor(private readonly env: RawEnv) {}

  private raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  private fail(name: string, rule: string, value: string): never {
    const shown = SECRET_VARIABLES.has(name) ? '' : ` (got "${value}")`;
    throw new ConfigError(`${name} ${rule}${shown}`);
  }

  string(name: string): string | undefined;
  string(name: string, fallback: string): string;
  string(name: string, fallback?: string): string | undefined {
    return this.raw(name) ?? fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number;
  int(name: string, fallback: number | undefined, min: number, max: number): number | undefined;
  int(name: string, fallback: number | undefined, min: number, max: number): number | undefined {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^-?\d+$/.test(value)) this.fail(name, `must be a whole number from ${min} to ${max}`, value);
    const n = Number(value);
    if (n < min || n > max) this.fail(name, `must be a whole number from ${min} to ${max}`, value);
    return n;
  }

  /** Port 0 (any free port) is accepted where a server listens, not where a client connects. */
  port(name: string, fallback: number | undefined, min = 1): number | undefined {
    return this.int(name, fallback, min, 65535);
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (/^(true|1|yes|on)$/i.test(value)) return true;
    if (/^(false|0|no|off)$/i.test(value)) return false;
    return this.fail(name, 'must be true or false', value);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T;
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: undefined): T | undefined;
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T | undefined): T | undefined {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      this.fail(name, `must be one of ${allowed.join(', ')}`, value);
    }
    return value as T;
  }

  /** A bearer token: printable ASCII without spaces, long enough not to be guessed. */
  adminToken(name: string): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    if (!/^[\x21-\x7e]{16,256}$/.test(value)) this.fail(name, 'must be 16 to 256 printable ASCII characters without spaces', value);
    return value;
  }

  /**
   * The base URL instances POST pushes to: http(s), no credentials, query or
   * fragment; stored without a trailing slash so that `/push/<id>` is appended as is.
   */
  publicUrl(name: string): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return this.fail(name, 'must be an http:// or https:// URL', value);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      this.fail(name, 'must be an http:// or https:// URL', value);
    if (url.username || url.password || url.search || url.hash)
      this.fail(name, 'must not contain credentials, a query or a fragment', value);
    return url.href.replace(/\/+$/, '');
  }

  key(name: string): Buffer | undefined {
    const value = this.raw(name);
    return value === undefined ? undefined : parseEncryptionKey(name, value);
  }
}

function readDialect(reader: EnvReader, env: RawEnv): DbDialect | undefined {
  const value = env.DB_DIALECT?.trim().toLowerCase();
  if (value === 'sqlite' || value === 'sqlite3' || value === 'better-sqlite3') {
    throw new ConfigError(
      'DB_DIALECT "sqlite" is not supported: the listener needs concurrent writers; use postgres, mysql, mariadb or mssql (or leave DB_HOST unset for the embedded PostgreSQL)',
    );
  }
  return reader.oneOf('DB_DIALECT', DB_DIALECTS, undefined);
}

function readApiSettings(r: EnvReader): Settings['api'] {
  const timeouts = {
    headersMs: r.int('API_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    requestMs: r.int('API_REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
    idleMs: r.int('API_IDLE_TIMEOUT_MS', 75_000, 100, 3_600_000),
    keepAliveMs: r.int('API_KEEP_ALIVE_TIMEOUT_MS', 72_000, 100, 3_600_000),
  };
  // Node refuses a headers limit beyond the request limit; an idle limit under the keep-alive one would cut reusable sockets early
  if (timeouts.headersMs > timeouts.requestMs)
    throw new ConfigError('API_HEADERS_TIMEOUT_MS must not be larger than API_REQUEST_TIMEOUT_MS');
  if (timeouts.idleMs < timeouts.keepAliveMs)
    throw new ConfigError('API_IDLE_TIMEOUT_MS must not be smaller than API_KEEP_ALIVE_TIMEOUT_MS');
  return {
    host: r.string('HOST', '0.0.0.0'),
    port: r.port('PORT', 4002, 0)!,
    bodyLimitBytes: r.int('API_BODY_LIMIT_BYTES', 16_384, 1_024, 1_048_576),
    timeouts,
  };
}

/** Validates the environment into typed settings; throws ConfigError on the first bad variable. */
export function parseSettings(env: RawEnv, cwd = process.cwd()): Settings {
  const r = new EnvReader(env);
  const dialect = readDialect(r, env);
  const host = r.string('DB_HOST');
  if (dialect && !host) throw new ConfigError(`DB_HOST must be set when DB_DIALECT is "${dialect}"`);
  const dataDir = path.resolve(cwd, r.string('EMBEDDED_PG_DIR', 'data'));

  const database: Settings['database'] = host
    ? {
        kind: 'server',
        dialect: dialect ?? 'postgres',
        host,
        port: r.port('DB_PORT', undefined),
        name: r.string('DB_NAME', 'mastodon_streaming_listener'),
        user: r.string('DB_USER'),
        password: env.DB_PASS,
        poolSize: r.int('DB_POOL_SIZE', 10, 1, 500),
        migrate: r.bool('DB_MIGRATE', true),
      }
    : {
        kind: 'embedded',
        dialect: 'postgres',
        dataDir,
        port: r.port('EMBEDDED_PG_PORT', 5488)!,
        name: r.string('DB_NAME', 'mastodon_streaming_listener'),
        poolSize: r.int('DB_POOL_SIZE', 10, 1, 500),
        migrate: r.bool('DB_MIGRATE', true),
      };

  const settings: Settings = {
    database,
    api: readApiSettings(r),
    configDir: path.resolve(cwd, r.string('CONFIG_DIR', 'config')),
    logLevel: r.oneOf<LogLevel>('LOG_LEVEL', LOG_LEVELS, 'info'),
    logFormat: r.oneOf<LogFormat>('LOG_FORMAT', LOG_FORMATS, 'auto'),
    registrationTtlHours: r.int('REGISTRATION_TTL_HOURS', 72, 1, 24 * 365),
    tokenEncryptionKey: r.key('TOKEN_ENCRYPTION_KEY'),
    shutdownTimeoutMs: r.int('SHUTDOWN_TIMEOUT_MS', 10_000, 100, 600_000),
    adminToken: r.adminToken('ADMIN_TOKEN'),
    listener: {
      host: r.string('LISTENER_HOST', '0.0.0.0'),
      port: r.port('LISTENER_PORT', 4102, 0)!,
      pollIntervalMs: r.int('LISTENER_POLL_INTERVAL_MS', 5_000, 100, 3_600_000),
      fullResyncIntervalMs: r.int('LISTENER_FULL_RESYNC_MS', 300_000, 1_000, 86_400_000),
      instanceInfoTtlMs: r.int('INSTANCE_INFO_TTL_MS', 600_000, 1_000, 86_400_000),
      pingIntervalMs: r.int('STREAM_PING_INTERVAL_MS', 30_000, 100, 3_600_000),
      reconnectBaseMs: r.int('STREAM_RECONNECT_BASE_MS', 1_000, 10, 3_600_000),
      reconnectMaxMs: r.int('STREAM_RECONNECT_MAX_MS', 300_000, 10, 86_400_000),
      maxOpeningPerInstance: r.int('STREAM_MAX_OPENING_PER_INSTANCE', 50, 1, 100_000),
      nodeTimeoutMs: r.int('LISTENER_NODE_TIMEOUT_MS', 15_000, 200, 3_600_000),
      probeBaseMs: r.int('STREAM_PROBE_BASE_MS', 1_000, 10, 3_600_000),
      probeMaxMs: r.int('STREAM_PROBE_MAX_MS', 5_000, 10, 3_600_000),
    },
    catchUp: {
      maxItems: r.int('CATCHUP_MAX_ITEMS', 200, 0, 10_000),
      maxAgeHours: r.int('CATCHUP_MAX_AGE_HOURS', 24, 1, 24 * 30),
      maxConcurrencyPerInstance: r.int('CATCHUP_MAX_CONCURRENCY_PER_INSTANCE', 8, 1, 1_000),
      retryBaseMs: r.int('CATCHUP_RETRY_BASE_MS', 1_000, 10, 3_600_000),
      retryMaxMs: r.int('CATCHUP_RETRY_MAX_MS', 300_000, 10, 86_400_000),
    },
    webPush: {
      publicUrl: r.publicUrl('PUBLIC_URL'),
      maxPushBytes: r.int('PUSH_MAX_BYTES', 8_192, 256, 65_536),
      pollIntervalMs: r.int('PUSH_POLL_INTERVAL_MS', 100, 10, 60_000),
      sweepIntervalMs: r.int('PUSH_SWEEP_INTERVAL_MS', 900_000, 1_000, 86_400_000),
      retentionHours: r.int('PUSH_RETENTION_HOURS', 48, 1, 24 * 30),
    },
    callback: {
      timeoutMs: r.int('CALLBACK_TIMEOUT_MS', 10_000, 100, 600_000),
      retryDeadlineHours: r.int('CALLBACK_RETRY_DEADLINE_HOURS', 24, 1, 24 * 30),
      maxConcurrentPerHost: r.int('CALLBACK_MAX_CONCURRENCY_PER_HOST', 64, 1, 10_000),
      maxResponseBytes: r.int('CALLBACK_MAX_RESPONSE_BYTES', 65_536, 0, 10_485_760),
      retryPollIntervalMs: r.int('CALLBACK_RETRY_POLL_MS', 1_000, 50, 3_600_000),
      retryBaseDelayMs: r.int('CALLBACK_RETRY_BASE_MS', 1_000, 10, 3_600_000),
      retryMaxDelayMs: r.int('CALLBACK_RETRY_MAX_MS', 600_000, 10, 86_400_000),
    },
  };
  const { pollIntervalMs, nodeTimeoutMs } = settings.listener;
  // a node must be able to miss a heartbeat (one slow pass) without being declared dead
  if (nodeTimeoutMs < 2 * pollIntervalMs) {
    throw new ConfigError(
      `LISTENER_NODE_TIMEOUT_MS must be at least twice LISTENER_POLL_INTERVAL_MS (${2 * pollIntervalMs}) (got "${nodeTimeoutMs}")`,
    );
  }
  return settings;
}
