import { execFile } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const ENTRY = path.join(ROOT, 'dist', 'apps', 'admin', 'src', 'main.js');

export interface AdminRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built admin CLI (`npm run admin -- …`) as its own process, as an operator would. */
export function runAdmin(args: string[], env: Record<string, string>): Promise<AdminRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [ENTRY, ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), NODE_ENV: 'test', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
