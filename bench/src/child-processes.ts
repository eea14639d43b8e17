import { ChildProcess, fork, spawn } from 'node:child_process';

type Message = { type: string } & Record<string, unknown>;

/**
 * Every process the benchmark starts, so that all of them are stopped on a
 * normal end, on failure and on Ctrl-C.
 */
export class ChildProcesses {
  private readonly children: ChildProcess[] = [];
  /** Also run on Ctrl-C: stops what is not a child process (the embedded database, which runs detached). */
  onInterrupt: (() => Promise<void>) | undefined;

  constructor() {
    const stopAll = () => this.killAll();
    process.on('exit', stopAll);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        process.stderr.write(`\n${signal}: stopping every process the benchmark started\n`);
        this.killAll();
        const cleanUp = this.onInterrupt?.() ?? Promise.resolve();
        void cleanUp.catch(() => undefined).then(() => process.exit(130));
      });
    }
  }

  /** A Node script with an IPC channel. */
  fork(script: string, env: Record<string, string> = {}): ChildProcess {
    const child = fork(script, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.children.push(child);
    return child;
  }

  /** An app process with the given Node flags; its output goes to `onOutput`. */
  spawnApp(script: string, nodeArgs: string[], env: Record<string, string>, onOutput: (chunk: string) => void): ChildProcess {
    const child = spawn(process.execPath, [...nodeArgs, script], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => onOutput(chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => onOutput(chunk.toString('utf8')));
    this.children.push(child);
    return child;
  }

  async stop(child: ChildProcess, timeoutMs = 15_000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, timeoutMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  killAll(): void {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }
}

/** The apps' LOG_LEVEL: warn, so that logging costs nothing measurable; BENCH_LOG_LEVEL=info (with BENCH_APP_LOG_DIR) to see what they did. */
export const APP_LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';

/** Node flags added to the apps', e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them under load. */
export function extraNodeArgs(): string[] {
  return (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

/** Sends `message` and resolves with the child's next message of `replyType`. */
export function ask<T extends Message>(child: ChildProcess, message: Message, replyType = message.type, timeoutMs = 600_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanUp = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const timer = setTimeout(() => {
      cleanUp();
      reject(new Error(`no "${replyType}" answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (reply: Message) => {
      if (reply.type !== replyType) return;
      cleanUp();
      resolve(reply as T);
    };
    const onExit = (code: number | null) => {
      cleanUp();
      reject(new Error(`child exited with code ${code} before answering "${replyType}"`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (message.type !== '') child.send(message);
  });
}

/** Waits for the first message of `type` without sending anything. */
export function nextMessage<T extends Message>(child: ChildProcess, type: string, timeoutMs = 60_000): Promise<T> {
  return ask<T>(child, { type: '' }, type, timeoutMs);
}
