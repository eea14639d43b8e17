import { AppProcess, freePort, writeConfig, writeConfigDir } from '../support/app-process';
import { CallbackReceiver } from '../support/callback-receiver';
import { FakeMastodon, FakeMastodonOptions } from '../support/fake-mastodon';
import { createTestDatabase, dialectSql, TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

export const APP_ID = 'jp.example.relaytest';
export const APP_SECRET = 'app-secret-7f3c2b9e1d';

/** Short intervals so that every behaviour shows within a second or two. */
export const FAST_LISTENER_ENV: Record<string, string> = {
  LISTENER_POLL_INTERVAL_MS: '200',
  LISTENER_FULL_RESYNC_MS: '5000',
  STREAM_RECONNECT_BASE_MS: '50',
  STREAM_RECONNECT_MAX_MS: '500',
  STREAM_PING_INTERVAL_MS: '400',
  INSTANCE_INFO_TTL_MS: '1000',
  CALLBACK_RETRY_POLL_MS: '100',
  CALLBACK_RETRY_BASE_MS: '50',
  CALLBACK_RETRY_MAX_MS: '500',
  SHUTDOWN_TIMEOUT_MS: '10000',
};

export interface HarnessOptions {
  /** Fake instances by name; each is reachable as `https://<name>.test`. */
  instances: Record<string, FakeMastodonOptions>;
  /** instance_map entry extras by name (replaceUrl/replaceUrlWeb point at the fake unless given here). */
  entries?: Record<string, Record<string, unknown>>;
  /** Apps besides APP_ID, by id, with any app_map keys besides `secret`. */
  apps?: Record<string, { secret: string } & Record<string, unknown>>;
  env?: Record<string, string>;
  /** Further callbackUrlPrefix entries of every app, for receivers other than the harness's own. */
  callbackPrefixes?: string[];
  apiEnv?: Record<string, string>;
  listenerEnv?: Record<string, string>;
  /** Set PUBLIC_URL to the api's own address, where the fake instances push. */
  publicUrl?: boolean;
}

export interface RegisterFields {
  instance: string;
  tag: string;
  token: string;
  callbackPath?: string;
  /** A whole callback URL, instead of `callbackPath` on the harness's receiver. */
  callbackUrl?: string;
  endpoint?: string;
  transport?: string;
  appId?: string;
  appSecret?: string;
}

/**
 * The real api and listener processes on a real database, with fake Mastodon
 * instances and a real callback receiver, shared by the tests of one file.
 */
export class ListenerHarness {
  readonly fakes: Record<string, FakeMastodon> = {};
  db!: TestDatabase;
  receiver!: CallbackReceiver;
  api!: AppProcess;
  listener!: AppProcess;
  configDir!: string;
  apiPort!: number;
  listenerPort!: number;
  /** Listeners started by startListener, besides `listener`, in order. */
  readonly moreListeners: AppProcess[] = [];
  private listenerEnv: Record<string, string> = {};
  private appMap: Record<string, unknown> = {};
  private instanceMap: Record<string, unknown> = {};

  static async start(options: HarnessOptions): Promise<ListenerHarness> {
    const harness = new ListenerHarness();
    try {
      await harness.boot(options);
    } catch (error) {
      await harness.stop();
      throw error;
    }
    return harness;
  }

  instanceUrl(name: string): string {
    return `https://${name}.test`;
  }

  fake(name: string): FakeMastodon {
    return this.fakes[name];
  }

  get listenerUrl(): string {
    return `http://127.0.0.1:${this.listenerPort}`;
  }

  async register(fields: RegisterFields): Promise<Response> {
    const body: Record<string, string> = {
      instance_url: this.instanceUrl(fields.instance),
      tag: fields.tag,
      app_id: fields.appId ?? APP_ID,
      app_secret: fields.appSecret ?? APP_SECRET,
      access_token: fields.token,
      callback_url:
        fields.callbackUrl ?? this.receiver.url(fields.callbackPath ?? `/cb/${fields.tag}`),
    };
    if (fields.endpoint) body.endpoint = fields.endpoint;
    if (fields.transport) body.transport = fields.transport;
    return fetch(`http://127.0.0.1:${this.apiPort}/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  /** Registers and expects 202. */
  async registered(fields: RegisterFields): Promise<void> {
    const response = await this.register(fields);
    if (response.status !== 202)
      throw new Error(`register answered ${response.status}: ${await response.text()}`);
  }

  async unregister(
    instance: string,
    tag: string,
    app: { appId?: string; appSecret?: string } = {},
  ): Promise<Response> {
    return this.postKey('/unregister', instance, tag, app);
  }

  /** POST /status for `tag` on `instance`, as JSON. */
  async status(
    instance: string,
    tag: string,
    app: { appId?: string; appSecret?: string } = {},
  ): Promise<Response> {
    return this.postKey('/status', instance, tag, app);
  }

  /** POSTs the four identifying fields (as /unregister and /status take them) as JSON. */
  private postKey(
    route: string,
    instance: string,
    tag: string,
    app: { appId?: string; appSecret?: string },
  ): Promise<Response> {
    return fetch(`http://127.0.0.1:${this.apiPort}${route}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        instance_url: this.instanceUrl(instance),
        tag,
        app_id: app.appId ?? APP_ID,
        app_secret: app.appSecret ?? APP_SECRET,
      }),
    });
  }

  /** The lifecycle columns of `tag` on `instance`, read from the database. */
  async lifecycle(
    instance: string,
    tag: string,
  ): Promise<{ state: string | null; removalReason: string | null; lastError: string | null } | undefined> {
    const rows: { state: string | null; removalReason: string | null; lastError: string | null }[] =
      await this.db.dataSource.query(
        this.sql(
          'SELECT state, "removalReason", "lastError" FROM stream_listener_registrations WHERE "instanceUrl" = ? AND tag = ?',
        ),
        [this.instanceUrl(instance), tag],
      );
    return rows[0];
  }

  /** Waits until the registration of `tag` is removed with `reason`. */
  async waitForRemoval(instance: string, tag: string, reason: string): Promise<void> {
    await waitFor(
      async () => {
        const row = await this.lifecycle(instance, tag);
        return row?.state === 'removed' && row.removalReason === reason;
      },
      { what: `registration ${tag} to be removed (${reason})` },
    );
  }

  /** The registration row of `tag` on `instance`, read from the database. */
  async row(
    instance: string,
    tag: string,
  ): Promise<{ id: number; lastUpdate: string | number } | undefined> {
    const rows: { id: number; lastUpdate: string | number }[] = await this.db.dataSource.query(
      this.sql(
        'SELECT id, "lastUpdate" FROM stream_listener_registrations WHERE "instanceUrl" = ? AND tag = ?',
      ),
      [this.instanceUrl(instance), tag],
    );
    return rows[0];
  }

  /** Quotes identifiers and numbers placeholders for the database in use. */
  sql(text: string): string {
    return dialectSql(this.db.settings.dialect, text);
  }

  async metricsText(): Promise<string> {
    return (await fetch(`${this.listenerUrl}/metrics`)).text();
  }

  /** The value of one metric sample, e.g. `msl_stream_failures_total{instance="…",reason="…"}`; 0 when absent. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const text = await this.metricsText();
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      const matches = Object.entries(labels).every(([key, value]) =>
        line.includes(`${key}="${value}"`),
      );
      if (matches) return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return 0;
  }

  /** Rewrites the config files and sends SIGHUP to both processes. */
  reloadConfig(
    change: (appMap: Record<string, unknown>, instanceMap: Record<string, unknown>) => void,
  ): void {
    change(this.appMap, this.instanceMap);
    writeConfig(this.configDir, this.appMap, this.instanceMap);
    for (const app of [this.api, this.listener]) if (app.pid) process.kill(app.pid, 'SIGHUP');
  }

  /**
   * Stops the listener with `signal` (SIGKILL: nothing runs at exit) and, unless
   * `start` is false, starts a new one with the same environment.
   */
  async restartListener(signal: NodeJS.Signals, start = true): Promise<void> {
    const env = this.listener.env;
    await this.listener.stop(signal);
    if (start) this.listener = await AppProcess.start('listener', env);
  }

  /** Starts the listener again after restartListener(signal, false). */
  async startListener(): Promise<void> {
    this.listener = await AppProcess.start('listener', this.listener.env);
  }

  /** The stored catch-up cursor of `tag` on `instance`. */
  async cursor(instance: string, tag: string): Promise<string | null | undefined> {
    const rows: { lastNotificationId: string | null }[] = await this.db.dataSource.query(
      this.sql(
        'SELECT "lastNotificationId" FROM stream_listener_registrations WHERE "instanceUrl" = ? AND tag = ?',
      ),
      [this.instanceUrl(instance), tag],
    );
    return rows[0]?.lastNotificationId;
  }

  /** Starts one more listener process on the same database and config (with `env` on top). */
  async addListener(env: Record<string, string> = {}): Promise<AppProcess> {
    const port = await freePort();
    const app = await AppProcess.start('listener', {
      ...this.listenerEnv,
      LISTENER_PORT: String(port),
      ...env,
    });
    this.moreListeners.push(app);
    return app;
  }

  async waitForListenerLog(text: string, timeoutMs = 20_000): Promise<void> {
    await waitFor(() => this.listener.logs.includes(text), {
      timeoutMs,
      what: `listener log "${text}"`,
    });
  }

  async stop(): Promise<void> {
    await Promise.allSettled([
      this.listener?.stop(),
      ...this.moreListeners.map((app) => app.stop()),
      this.api?.stop(),
    ]);
    await Promise.allSettled(Object.values(this.fakes).map((fake) => fake.stop()));
    await this.receiver?.stop();
    await this.db?.drop();
  }

  private async boot(options: HarnessOptions): Promise<void> {
    this.db = await createTestDatabase();
    this.receiver = await CallbackReceiver.start();
    for (const [name, fakeOptions] of Object.entries(options.instances)) {
      const fake = await FakeMastodon.start(fakeOptions);
      this.fakes[name] = fake;
      this.instanceMap[this.instanceUrl(name)] = {
        replaceUrl: fake.url,
        replaceUrlWeb: fake.url,
        ...(options.entries?.[name] ?? {}),
      };
    }
    for (const [name, entry] of Object.entries(options.entries ?? {})) {
      if (!this.instanceMap[this.instanceUrl(name)])
        this.instanceMap[this.instanceUrl(name)] = entry;
    }
    const prefixes = [this.receiver.url('/'), ...(options.callbackPrefixes ?? [])];
    const callbackUrlPrefix = prefixes.length === 1 ? prefixes[0] : prefixes;
    this.appMap = { [APP_ID]: { secret: APP_SECRET, callbackUrlPrefix } };
    for (const [appId, app] of Object.entries(options.apps ?? {})) {
      this.appMap[appId] = { ...app, callbackUrlPrefix };
    }
    this.configDir = writeConfigDir(this.appMap, this.instanceMap);
    [this.apiPort, this.listenerPort] = await Promise.all([freePort(), freePort()]);
    const common = {
      ...this.db.env,
      CONFIG_DIR: this.configDir,
      HOST: '127.0.0.1',
      LISTENER_HOST: '127.0.0.1',
      PORT: String(this.apiPort),
      LISTENER_PORT: String(this.listenerPort),
      LOG_LEVEL: 'debug',
      ...FAST_LISTENER_ENV,
      ...(options.publicUrl ? { PUBLIC_URL: `http://127.0.0.1:${this.apiPort}` } : {}),
      ...(options.env ?? {}),
    };
    this.listenerEnv = { ...common, ...(options.listenerEnv ?? {}) };
    [this.api, this.listener] = await Promise.all([
      AppProcess.start('api', { ...common, ...(options.apiEnv ?? {}) }),
      AppProcess.start('listener', this.listenerEnv),
    ]);
  }
}
