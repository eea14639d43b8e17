import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadSettingsOrExit } from './load-settings';

class ExitCalled extends Error {
  constructor(readonly code: number | undefined) {
    super(`process.exit(${code})`);
  }
}

describe('loadSettingsOrExit', () => {
  const saved = { ...process.env };
  let dir: string;
  let stderr: jest.SpyInstance;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msl-load-'));
    fs.writeFileSync(path.join(dir, 'app_map.hjson'), '{ app.one: { secret: "s" } }');
    fs.writeFileSync(path.join(dir, 'instance_map.hjson'), '{ "*": {} }');
    for (const key of Object.keys(process.env)) delete process.env[key];
    Object.assign(process.env, { PATH: saved.PATH, CONFIG_DIR: dir });
    // no .env.production of the developer's may leak in
    jest.spyOn(process, 'cwd').mockReturnValue(dir);
    stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    jest.spyOn(process, 'exit').mockImplementation((code?: string | number | null) => {
      throw new ExitCalled(code === null || code === undefined ? undefined : Number(code));
    });
  });

  afterEach(() => {
    jest.restoreAllMocks();
    for (const key of Object.keys(process.env)) delete process.env[key];
    Object.assign(process.env, saved);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function exitLine(): string {
    expect(() => loadSettingsOrExit()).toThrow(new ExitCalled(1));
    expect(stderr).toHaveBeenCalledTimes(1);
    return String(stderr.mock.calls[0][0]);
  }

  it('returns the settings when the environment and both files are good', () => {
    expect(loadSettingsOrExit().configDir).toBe(dir);
    expect(stderr).not.toHaveBeenCalled();
  });

  it('prints one line naming a bad variable and exits 1', () => {
    process.env.PORT = 'abc';
    expect(exitLine()).toBe(
      'configuration error: PORT must be a whole number from 0 to 65535 (got "abc")\n',
    );
  });

  it('prints one line naming a broken file and its line, and exits 1', () => {
    fs.writeFileSync(path.join(dir, 'app_map.hjson'), '{\n app.one: {\n  secret: "s"\n');
    const line = exitLine();
    expect(line).toMatch(
      new RegExp(`^configuration error: ${path.join(dir, 'app_map.hjson')}: .*at line \\d+`),
    );
    expect(line.trimEnd()).not.toContain('\n');
  });

  describe('with NODE_ENV=production', () => {
    beforeEach(() => {
      process.env.NODE_ENV = 'production';
    });

    it("starts on files of the operator's own", () => {
      process.env.DB_PASS = 'a-real-password';
      expect(loadSettingsOrExit().configDir).toBe(dir);
    });

    it('refuses to start on a sample file, naming it', () => {
      fs.renameSync(
        path.join(dir, 'instance_map.hjson'),
        path.join(dir, 'instance_map.hjson.sample'),
      );
      expect(exitLine()).toBe(
        `configuration error: ${path.join(dir, 'instance_map.hjson.sample')}: NODE_ENV=production does not start on a sample file; copy it to instance_map.hjson, set your own secrets and restart\n`,
      );
    });

    it("refuses the sample's placeholder app secret, naming the file and entry", () => {
      fs.writeFileSync(
        path.join(dir, 'app_map.hjson'),
        '{ app.one: { secret: "change-this-secret" } }',
      );
      expect(exitLine()).toBe(
        `configuration error: ${path.join(dir, 'app_map.hjson')}: entry "app.one": secret is the sample's placeholder; set one of your own\n`,
      );
    });

    it("refuses the sample's placeholder database password, naming the env file without echoing it", () => {
      fs.writeFileSync(
        path.join(dir, '.env.production'),
        'DB_HOST=db\nDB_PASS=change-this-password\n',
      );
      const line = exitLine();
      expect(line).toBe(
        `configuration error: ${path.join(dir, '.env.production')}: DB_PASS is the sample's placeholder; set a password of your own\n`,
      );
    });

    it('does not look at the samples outside production', () => {
      process.env.NODE_ENV = 'development';
      fs.writeFileSync(
        path.join(dir, 'app_map.hjson'),
        '{ app.one: { secret: "change-this-secret" } }',
      );
      expect(loadSettingsOrExit().configDir).toBe(dir);
    });
  });

  it('refuses to run one app alone without DB_HOST, in one line', () => {
    expect(() => loadSettingsOrExit({ aloneAs: 'npm run start:api' })).toThrow(new ExitCalled(1));
    expect(stderr.mock.calls).toEqual([
      [
        'configuration error: DB_HOST is not set: npm run start:api needs a database server; set DB_DIALECT, DB_HOST, DB_PORT, DB_NAME, DB_USER and DB_PASS (or use npm start, which runs both apps on an embedded PostgreSQL)\n',
      ],
    ]);
    process.env.DB_HOST = 'db.internal';
    expect(loadSettingsOrExit({ aloneAs: 'npm run start:api' }).database.kind).toBe('server');
  });
});
