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
});
