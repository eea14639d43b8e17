import * as fs from 'node:fs';
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
