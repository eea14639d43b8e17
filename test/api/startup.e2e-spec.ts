import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { AppProcess, freePort, writeConfigDir } from '../support/app-process';
import { waitFor } from '../support/wait-for';

/**
 * Configuration problems stop the api before it opens anything, with one line
 * naming the variable or file. The database settings point nowhere on purpose:
 * getting as far as connecting would be a failure of the test.
 */
describe('api start-up with a bad configuration', () => {
  const goodConfigDir = writeConfigDir({ 'app.one': { secret: 'startup-secret' } }, { '*': {} });
  const nowhere = { DB_DIALECT: 'postgres', DB_HOST: '127.0.0.1', DB_PORT: '1', DB_NAME: 'none' };

  async function failedStart(
    env: Record<string, string>,
  ): Promise<{ code: number | null; lines: string[] }> {
    const api = await AppProcess.start(
      'api',
      {
        ...nowhere,
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        CONFIG_DIR: goodConfigDir,
        ...env,
      },
      { healthy: false },
    );
    const status = await waitFor(() => api.exitStatus, {
      timeoutMs: 30_000,
      what: 'the api to exit',
    });
    return { code: status.code, lines: api.logs.split('\n').filter((line) => line.trim() !== '') };
  }

  it('exits 1 with one line naming PORT when it is not a number', async () => {
    const { code, lines } = await failedStart({ PORT: 'abc' });
    expect(code).toBe(1);
    expect(lines).toEqual([
      'configuration error: PORT must be a whole number from 0 to 65535 (got "abc")',
    ]);
  });

  it('exits 1 with one line refusing sqlite', async () => {
    const { code, lines } = await failedStart({ DB_DIALECT: 'sqlite' });
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^configuration error: DB_DIALECT "sqlite" is not supported/);
  });

  it('exits 1 naming TOKEN_ENCRYPTION_KEY without echoing it', async () => {
    const { code, lines } = await failedStart({ TOKEN_ENCRYPTION_KEY: 'too-short-key-value' });
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^configuration error: TOKEN_ENCRYPTION_KEY must be 32 bytes/);
    expect(lines[0]).not.toContain('too-short-key-value');
  });

  it('exits 1 naming a broken app_map.hjson and the line', async () => {
    const dir = writeConfigDir({}, { '*': {} });
    const file = path.join(dir, 'app_map.hjson');
    fs.writeFileSync(file, '{\n  app.one: {\n    secret: "x"\n  }\n  app.two: [\n}\n');
    const { code, lines } = await failedStart({ CONFIG_DIR: dir });
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0].startsWith(`configuration error: ${file}: `)).toBe(true);
    expect(lines[0]).toMatch(/at line 6,\d+/);
  });

  it('exits 1 naming the entry and key of a wrong type in instance_map.hjson', async () => {
    const dir = writeConfigDir({ 'app.one': { secret: 'x' } }, { '*': { maxConnections: 'many' } });
    const { code, lines } = await failedStart({ CONFIG_DIR: dir });
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(
      lines[0].startsWith(
        `configuration error: ${path.join(dir, 'instance_map.hjson')}: entry "*": maxConnections `,
      ),
    ).toBe(true);
  });
});

describe('start-up that fails after the embedded PostgreSQL started, and apps alone without a server', () => {
  const configDir = writeConfigDir({ 'app.one': { secret: 'startup-secret' } }, { '*': {} });
  const root = path.resolve(__dirname, '../..');

  function refusesConnections(port: number): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
  }

  it('npm start on a busy port exits 1 and stops the PostgreSQL it started', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = (busy.address() as net.AddressInfo).port;
    const dataDir = `data/test-failed-start-${process.pid}-${Date.now()}`;
    const pgPort = await freePort();
    try {
      const app = await AppProcess.start(
        'standalone',
        {
          HOST: '127.0.0.1',
          PORT: String(busyPort),
          LISTENER_HOST: '127.0.0.1',
          LISTENER_PORT: String(await freePort()),
          CONFIG_DIR: configDir,
          EMBEDDED_PG_DIR: dataDir,
          EMBEDDED_PG_PORT: String(pgPort),
        },
        { healthy: false },
      );
      const status = await waitFor(() => app.exitStatus, {
        timeoutMs: 90_000,
        what: 'npm start to exit',
      });
      expect(status.code).toBe(1);
      expect(app.logs).toContain('embedded PostgreSQL ready');
      expect(app.logs).toMatch(/start-up failed: .*EADDRINUSE/);
      expect(await refusesConnections(pgPort)).toBe(true);
      expect(fs.existsSync(path.join(root, dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    } finally {
      busy.close();
      fs.rmSync(path.join(root, dataDir), { recursive: true, force: true });
    }
  });

  it.each([
    ['api', 'npm run start:api'],
    ['listener', 'npm run start:listener'],
  ] as const)('the %s alone without DB_HOST refuses in one line', async (kind, command) => {
    const app = await AppProcess.start(
      kind,
      {
        HOST: '127.0.0.1',
        LISTENER_HOST: '127.0.0.1',
        PORT: '0',
        LISTENER_PORT: '0',
        CONFIG_DIR: configDir,
      },
      { healthy: false },
    );
    const status = await waitFor(() => app.exitStatus, {
      timeoutMs: 30_000,
      what: `the ${kind} to exit`,
    });
    expect(status.code).toBe(1);
    expect(app.logs.trim().split('\n')).toEqual([
      `configuration error: DB_HOST is not set: ${command} needs a database server; set DB_DIALECT, DB_HOST, DB_PORT, DB_NAME, DB_USER and DB_PASS (or use npm start, which runs both apps on an embedded PostgreSQL)`,
    ]);
  });
});
