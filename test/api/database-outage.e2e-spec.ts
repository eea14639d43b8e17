import { AppProcess, freePort, writeConfigDir } from '../support/app-process';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { ApiClient } from './support/http-client';
import { allRegistrationRows } from './support/registration-table';
import { TcpProxy } from '../support/tcp-proxy';

const APP = { id: 'app.outage', secret: 'outage-secret-5d0c' };

describe('api while its database is down', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let api: AppProcess;
  let client: ApiClient;
  let tokenCounter = 0;

  const registration = (tag: string) => ({
    instance_url: 'https://mastodon.example',
    tag,
    app_id: APP.id,
    app_secret: APP.secret,
    access_token: `outage-token-${++tokenCounter}`,
    callback_url: 'https://push.example.com/cb',
  });

  beforeAll(async () => {
    db = await createTestDatabase();
    // the api reaches the database only through this relay, which the test cuts
    proxy = await TcpProxy.start({
      host: db.settings.host,
      port: db.settings.port ?? defaultPort(db.settings.dialect),
    });
    const port = await freePort();
    api = await AppProcess.start('api', {
      ...db.env,
      DB_HOST: '127.0.0.1',
      DB_PORT: String(proxy.port),
      HOST: '127.0.0.1',
      PORT: String(port),
      CONFIG_DIR: writeConfigDir(
        { [APP.id]: { secret: APP.secret, callbackUrlPrefix: 'https://push.example.com/' } },
        { '*': {} },
      ),
      LOG_LEVEL: 'info',
      // Web Push on: the instances' pushes reach /push/<id>
      PUBLIC_URL: `http://127.0.0.1:${port}`,
    });
    client = new ApiClient(`http://127.0.0.1:${port}`);
  });

  /** A push to a well-formed id (no subscription has it): the status and Retry-After of the answer. */
  async function push(): Promise<{ status: number; retryAfter: string | null }> {
    const response = await fetch(`${client.baseUrl}/push/${'A'.repeat(43)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-encoding': 'aes128gcm', ttl: '60' },
      body: Buffer.alloc(120, 1),
    });
    await response.arrayBuffer();
    return { status: response.status, retryAfter: response.headers.get('retry-after') };
  }

  afterAll(async () => {
    await api?.stop();
    await proxy?.close();
    await db?.drop();
  });

  it('works while the database is up', async () => {
    expect((await client.get('/health')).json).toEqual({ status: 'ok', database: 'up' });
    expect((await client.postForm('/register', registration('before'))).status).toBe(202);
    expect((await push()).status).toBe(404);
  });

  it('answers /health 503 and /register, /unregister 503 when the database goes away, and stays up', async () => {
    proxy.cut();

    const health = await waitFor(
      async () => {
        const answer = await client.get('/health');
        return answer.status === 503 ? answer : undefined;
      },
      { what: '/health to report the database down' },
    );
    expect(health.json).toEqual({ status: 'unavailable', database: 'down' });

    const unavailable = {
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'database unavailable',
    };
    const register = await client.postForm('/register', registration('during'));
    expect(register.status).toBe(503);
    expect(register.json).toEqual(unavailable);
    const unregister = await client.postJson('/unregister', {
      instance_url: 'https://mastodon.example',
      tag: 'before',
      app_id: APP.id,
      app_secret: APP.secret,
    });
    expect(unregister.status).toBe(503);
    expect(unregister.json).toEqual(unavailable);
    // a push is answered 503 with Retry-After, never a 4xx: an instance deletes its subscription on a 4xx
    expect(await push()).toEqual({ status: 503, retryAfter: '10' });

    // refusals that need no database are still answered as usual
    expect(
      (await client.postForm('/register', { ...registration('bad'), app_secret: 'wrong' })).status,
    ).toBe(401);
    expect(api.exitStatus).toBeUndefined();
  });

  it('recovers when the database is back', async () => {
    proxy.restore();
    await waitFor(async () => (await client.get('/health')).status === 200, {
      what: '/health to recover',
    });
    expect((await push()).status).toBe(404);
    expect((await client.postForm('/register', registration('after'))).status).toBe(202);
    const tags = (await allRegistrationRows(db.dataSource)).map((row) => row.tag).sort();
    expect(tags).toEqual(['after', 'before']);
  });

  it('counted the refusals as unavailable and logged no token or secret', async () => {
    const text = (await client.get('/metrics')).text;
    expect(text).toMatch(
      /^msl_registrations_total\{action="register",outcome="unavailable"\} [1-9]/m,
    );
    expect(text).toMatch(
      /^msl_registrations_total\{action="unregister",outcome="unavailable"\} [1-9]/m,
    );
    expect(api.logs).toContain('database unavailable');
    expect(api.logs).not.toContain(APP.secret);
    expect(api.logs).not.toMatch(/outage-token-\d/);
  });
});

function defaultPort(dialect: string): number {
  return dialect === 'postgres' ? 5432 : dialect === 'mssql' ? 1433 : 3306;
}
