export const DB_DIALECTS = ['postgres', 'mysql', 'mariadb', 'mssql'] as const;
export type DbDialect = (typeof DB_DIALECTS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `auto`: readable lines when standard output is a terminal, one JSON object per line otherwise. */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface ServerDatabaseSettings {
  kind: 'server';
  dialect: DbDialect;
  host: string;
  port?: number;
  name: string;
  user?: string;
  password?: string;
  poolSize: number;
  migrate: boolean;
}

/** PostgreSQL started by this project under `dataDir` when no DB_HOST is given. */
export interface EmbeddedDatabaseSettings {
  kind: 'embedded';
  dialect: 'postgres';
  dataDir: string;
  port: number;
  name: string;
  poolSize: number;
  migrate: boolean;
}

export type DatabaseSettings = ServerDatabaseSettings | EmbeddedDatabaseSettings;

/** The api's connection time limits, in milliseconds. */
export interface HttpTimeouts {
  /** From the connection's start to the end of the request headers. */
  headersMs: number;
  /** From the connection's start to the end of the request body. */
  requestMs: number;
  /** A socket with nothing sent or received for this long is closed, whatever it is doing. */
  idleMs: number;
  /** How long a keep-alive socket waits for the next request. */
  keepAliveMs: number;
}

/** Everything read from the environment, validated once at start-up. */
export interface Settings {
  database: DatabaseSettings;
  configDir: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  registrationTtlHours: number;
  /** 32-byte AES-256-GCM key; access tokens are stored encrypted when set. */
  tokenEncryptionKey?: Buffer;
  shutdownTimeoutMs: number;
  /** Required by the listener's status page when set; unset, the page answers loopback clients only. */
  adminToken?: string;
  api: {
    host: string;
    port: number;
    bodyLimitBytes: number;
    /** Time limits per connection: a client that dribbles its headers or body is cut off. */
    timeouts: HttpTimeouts;
  };
  listener: {
    host: string;
    port: number;
    pollIntervalMs: number;
    fullResyncIntervalMs: number;
    instanceInfoTtlMs: number;
    pingIntervalMs: number;
    reconnectBaseMs: number;
    reconnectMaxMs: number;
    /** How many stream handshakes may be in progress at once per instance. */
    maxOpeningPerInstance: number;
    /** A listener whose heartbeat is older than this is dead: the others take its registrations over. */
    nodeTimeoutMs: number;
    /** While an instance is unreachable, one probe retries it with backoff between these bounds. */
    probeBaseMs: number;
    probeMaxMs: number;
  };
  catchUp: {
    /** Newest missed objects relayed per gap; older ones are skipped (counted and logged). */
    maxItems: number;
    /** Missed objects older than this are skipped. */
    maxAgeHours: number;
    /** REST requests of catch-up in flight at once per instance. */
    maxConcurrencyPerInstance: number;
    /** Backoff of a failed catch-up (exponential, jittered), its own: a REST hiccup is not a stream failure. */
    retryBaseMs: number;
    retryMaxMs: number;
  };
  /** The Web Push transport (see the README's "Web Push transport"). */
  webPush: {
    /** Base URL at which instances reach this server's api (`{publicUrl}/push/<id>`); unset: no Web Push. */
    publicUrl?: string;
    /** Largest push body the api accepts, in bytes. */
    maxPushBytes: number;
    /** How often the listener looks for received pushes to relay. */
    pollIntervalMs: number;
    /** How often each Web Push registration's notifications are fetched from its cursor (pushes an instance gave up on). */
    sweepIntervalMs: number;
    /** Received pushes are remembered this long to recognise replays, then deleted. */
    retentionHours: number;
  };
  callback: {
    timeoutMs: number;
    retryDeadlineHours: number;
    maxConcurrentPerHost: number;
    maxResponseBytes: number;
    retryPollIntervalMs: number;
    /** First retry delay; doubled per attempt (with jitter) up to retryMaxDelayMs. */
    retryBaseDelayMs: number;
    retryMaxDelayMs: number;
  };
}
