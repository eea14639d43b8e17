import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const ROOT = path.resolve(__dirname, '../..');

function run(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/apps/demo/src/main.js')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

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

describe('npm run demo', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('relays one notification end to end, verifies its signature, and leaves nothing listening', async () => {
    const { code, output } = await run(db.env);
    expect({ code, output }).toEqual({ code: 0, output: expect.any(String) });
    expect(output).toContain('POST /register -> 202');
    expect(output).toContain('the listener opened the stream user:notification');
    const body = /^ {2}body: (.*)$/m.exec(output)?.[1];
    expect(body).toBeDefined();
    const callback = JSON.parse(body!) as Record<string, string>;
    expect(callback).toMatchObject({ tag: 'demo-user-1', appId: 'demo.app', event: 'notification' });
    expect(JSON.parse(callback.payload)).toMatchObject({ type: 'follow', account: { acct: 'alice' } });
    expect(output).toMatch(/^ {2}webhook-signature: v1,/m);
    expect(output).toContain('its webhook-signature verified with the standardwebhooks package');
    expect(output).toContain('POST /unregister -> 202');

    const ports = [...output.matchAll(/http:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
    expect(new Set(ports).size).toBeGreaterThanOrEqual(4); // instance, receiver, api, listener
    for (const port of new Set(ports)) expect(await refusesConnections(port)).toBe(true);
    // it unregistered the user it registered
    expect(await db.dataSource.query('SELECT * FROM stream_listener_registrations')).toEqual([]);
  });
});
