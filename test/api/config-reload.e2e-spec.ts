import * as fs from 'node:fs';
import * as path from 'node:path';
import { AppProcess, freePort, writeConfig, writeConfigDir } from '../support/app-process';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { ApiClient } from './support/http-client';
import { registrationRow } from './support/registration-table';

const ORIGINAL_APPS = {
  'app.first': { secret: 'first-secret-8c1f', callbackUrlPrefix: 'https://push.example.com/' },
};
const INSTANCES = { 'https://mastodon.example': {} };
const WITH_NEW_APP = {
  ...ORIGINAL_APPS,
  'app.added': { secret: 'added-secret-27ab', callbackUrlPrefix: 'https://push.example.com/' },
};

describe('api config reload on SIGHUP', () => {
  let db: TestDatabase;
  let api: AppProcess;
  let client: ApiClient;
  let configDir: string;

  const registration = (appId: string, secret: string, tag: string) => ({
    instance_url: 'https://mastodon.example',
    tag,
    app_id: appId,
    app_secret: secret,
    access_token: `plain-token-${tag}`,
    callback_url: 'https://push.example.com/cb',
  });

  async function hangUp(logLine: string): Promise<void> {
    const seen = api.logs.split(logLine).length;
    process.kill(api.pid!, 'SIGHUP');
    await waitFor(() => api.logs.split(logLine).length > seen, { what: `"${logLine}" in the log` });
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    configDir = writeConfigDir(ORIGINAL_APPS, INSTANCES);
    const port = await freePort();
    api = await AppProcess.start('api', {
      ...db.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      CONFIG_DIR: configDir,
      LOG_LEVEL: 'info',
    });
    client = new ApiClient(`http://127.0.0.1:${port}`);
  });

  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  it('stores the token as sent when no TOKEN_ENCRYPTION_KEY is set', async () => {
    expect(
      (await client.postForm('/register', registration('app.first', 'first-secret-8c1f', 'one')))
        .status,
    ).toBe(202);
    const row = await registrationRow(db.dataSource, {
      instanceUrl: 'https://mastodon.example',
      appId: 'app.first',
      tag: 'one',
    });
    expect(row?.accessToken).toBe('plain-token-one');
  });

  it('refuses an instance that instance_map does not list when there is no "*"', async () => {
    const answer = await client.postForm('/register', {
      ...registration('app.first', 'first-secret-8c1f', 'two'),
      instance_url: 'https://unlisted.example',
    });
    expect(answer.status).toBe(403);
    expect(answer.json).toEqual({
      statusCode: 403,
      error: 'Forbidden',
      message: 'instance_url is not allowed: instance is not configured in instance_map',
    });
  });

  it('lets an app added to app_map register after SIGHUP', async () => {
    const added = registration('app.added', 'added-secret-27ab', 'added');
    expect((await client.postForm('/register', added)).status).toBe(403);

    writeConfig(configDir, WITH_NEW_APP, INSTANCES);
    await hangUp('config reloaded');

    expect((await client.postForm('/register', added)).status).toBe(202);
    expect(
      await registrationRow(db.dataSource, {
        instanceUrl: 'https://mastodon.example',
        appId: 'app.added',
        tag: 'added',
      }),
    ).not.toBeNull();
  });

  it('keeps the last good config when an edit is broken', async () => {
    const appMapFile = path.join(configDir, 'app_map.hjson');
    // the edit removes app.added but is broken on line 3: it must not take effect
    fs.writeFileSync(
      appMapFile,
      '{\n  app.first: { secret: "first-secret-8c1f" }\n  app.broken: [\n',
    );
    await hangUp('config reload failed');

    const failure = api.logs.split('\n').find((line) => line.includes('config reload failed'))!;
    expect(failure).toContain(appMapFile);
    expect(failure).toMatch(/line \d+/);

    expect(
      (await client.postForm('/register', registration('app.added', 'added-secret-27ab', 'still')))
        .status,
    ).toBe(202);
    expect(
      (await client.postForm('/register', registration('app.first', 'first-secret-8c1f', 'first')))
        .status,
    ).toBe(202);
    expect(api.exitStatus).toBeUndefined();
  });

  it('drops an app removed by a later good edit', async () => {
    writeConfig(configDir, ORIGINAL_APPS, INSTANCES);
    await hangUp('config reloaded');
    const answer = await client.postForm(
      '/register',
      registration('app.added', 'added-secret-27ab', 'gone'),
    );
    expect(answer.status).toBe(403);
    expect(api.logs).not.toContain('added-secret-27ab');
    expect(api.logs).not.toContain('first-secret-8c1f');
  });
});
