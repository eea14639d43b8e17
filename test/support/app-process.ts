import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from './wait-for';

const ROOT = path.resolve(__dirname, '../..');

export type AppKind = 'api' | 'listener' | 'standalone';

/** A real app process started from the build (npm test builds first). Its whole output is kept. */
export class AppProcess {
  private output = '';
  private exited?: { code: number | null; signal: NodeJS.Signals | null };
  private readonly exitWaiters: (() => void)[] = [];

  private constructor(
    readonly kind: AppKind,
    private readonly child: ChildProcess,
    readonly env: Record<string, string>,
  ) {
    const collect = (chunk: Buffer) => {
      this.output += chunk.toString('utf8');
      if (process.env.MSL_TEST_ECHO) process.stderr.write(chunk);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      for (const waiter of this.exitWaiters.splice(0)) waiter();
    });
  }

  /** Starts `dist/apps/<kind>/src/main.js` and waits until its HTTP port answers /health. */
  static async start(kind: AppKind, env: Record<string, string>, options: { healthy?: boolean } = {}): Promise<AppProcess> {
    const entry = path.join(ROOT, 'dist', 'apps', kind, 'src', 'main.js');
    if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run npm run build`);
    const child = spawn(process.execPath, [entry], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), NODE_ENV: 'test', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const app = new AppProcess(kind, child, env);
    const port = kind === 'listener' ? env.LISTENER_PORT : env.PORT;
    if (options.healthy !== false && port) {
      await waitFor(
        async () => {
          if (app.exited) throw new Error(`${kind} exited during start-up:\n${app.output}`);
          return (await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status).catch(() => 0)) > 0;
        },
        { timeoutMs: 60_000, what: `${kind} to answer /health` },
      );
    }
    return app;
  }

  get logs(): string {
    return this.output;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exited;
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exited) {
      this.child.kill(signal);
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      await new Promise<void>((resolve) => (this.exited ? resolve() : this.exitWaiters.push(resolve)));
      clearTimeout(timer);
    }
    return this.exited!;
  }
}

/** A TCP port free on loopback right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Writes app_map.hjson and instance_map.hjson into a fresh folder and returns it (for CONFIG_DIR). */
export function writeConfigDir(appMap: object, instanceMap: object): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msl-config-'));
  writeConfig(dir, appMap, instanceMap);
  return dir;
}

export function writeConfig(dir: string, appMap: object, instanceMap: object): void {
  fs.writeFileSync(path.join(dir, 'app_map.hjson'), JSON.stringify(appMap, null, 2));
  fs.writeFileSync(path.join(dir, 'instance_map.hjson'), JSON.stringify(instanceMap, null, 2));
}
