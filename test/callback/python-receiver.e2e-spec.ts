import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { freePort } from '../support/app-process';
import { waitFor } from '../support/wait-for';
import { APP_ID, APP_SECRET, ListenerHarness } from '../listener/listener-harness';

const RECEIVER = path.resolve(__dirname, '../../libs/callback/receivers/receiver.py');

/** The Python receiver as an app server would run it; its stdout lines are kept, parsed. */
class PythonReceiver {
  readonly lines: Record<string, unknown>[] = [];
  readonly errors: string[] = [];

  private constructor(private readonly child: ChildProcess) {
    let pending = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const complete = pending.split('\n');
      pending = complete.pop() ?? '';
      for (const line of complete)
        if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    child.stderr!.on('data', (chunk: Buffer) => this.errors.push(chunk.toString('utf8')));
  }

  static async start(port: number): Promise<PythonReceiver> {
    const child = spawn('python3', [RECEIVER], {
      env: {
        PATH: process.env.PATH ?? '',
        WEBHOOK_SECRET: APP_SECRET,
        PORT: String(port),
        TOLERANCE_SECONDS: '300',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const receiver = new PythonReceiver(child);
    await waitFor(() => receiver.lines.some((line) => 'listening' in line), {
      what: `the Python receiver to listen (${receiver.errors.join('')})`,
    });
    return receiver;
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }
}

describe('the Python receiver (libs/callback/receivers/receiver.py)', () => {
  let h: ListenerHarness;
  let python: PythonReceiver;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    python = await PythonReceiver.start(port);
    h = await ListenerHarness.start({
      instances: { alpha: { version: '4.3.0' } },
      callbackPrefixes: [`http://127.0.0.1:${port}/`],
    });
  });

  afterAll(async () => {
    python?.stop();
    await h?.stop();
  });

  it('verifies a real signed callback from the listener and prints it', async () => {
    const token = 'python-receiver-token-1';
    h.fake('alpha').addToken(token);
    await h.registered({
      instance: 'alpha',
      tag: 'py',
      token,
      callbackUrl: `http://127.0.0.1:${port}/callback`,
    });
    await h.fake('alpha').waitForConnection((c) => c.token === token);
    const payload = JSON.stringify({ id: '7001', type: 'mention' });
    await waitFor(() => h.fake('alpha').emit(token, { event: 'notification', payload }) > 0);

    const line = await waitFor(() => python.lines.find((l) => l.verified === true), {
      what: 'the Python receiver to verify a callback',
    });
    expect(line).toEqual({
      verified: true,
      webhook_id: expect.stringMatching(/^msg_/),
      path: '/callback',
      callback: {
        instanceUrl: h.instanceUrl('alpha'),
        tag: 'py',
        appId: APP_ID,
        event: 'notification',
        payload,
      },
    });
    expect(python.errors).toEqual([]);
  });

  it('refuses a wrong signature, a tampered body and an old timestamp with 401', async () => {
    const webhook = new Webhook(Buffer.from(APP_SECRET, 'utf8'), { format: 'raw' });
    const body = JSON.stringify({
      instanceUrl: 'https://a.example',
      tag: 't',
      appId: APP_ID,
      event: 'notification',
      payload: '{}',
    });
    const send = (headers: Record<string, string>, sent = body) =>
      fetch(`http://127.0.0.1:${port}/callback`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...headers },
        body: sent,
      }).then((r) => r.status);
    const signed = (id: string, at: Date) => ({
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': webhook.sign(id, at, body),
    });

    expect(await send(signed('msg_good', new Date()))).toBe(204);
    expect(await send(signed('msg_tampered', new Date()), body.replace('"t"', '"u"'))).toBe(401);
    expect(await send({ ...signed('msg_wrong', new Date()), 'webhook-signature': 'v1,AAAA' })).toBe(
      401,
    );
    expect(await send(signed('msg_old', new Date(Date.now() - 600_000)))).toBe(401);
    expect(await send(signed('msg_future', new Date(Date.now() + 600_000)))).toBe(401);
    expect(python.errors.join('')).toContain('outside the tolerance');
    expect(python.lines.filter((l) => l.verified).map((l) => l.webhook_id)).toContain('msg_good');
  });
});
