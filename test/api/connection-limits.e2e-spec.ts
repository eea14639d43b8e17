import * as net from 'node:net';
import { AppProcess, freePort, writeConfigDir } from '../support/app-process';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

const DRIBBLERS = 20;

/** A client that opens a connection and then sends `first`, followed by one byte of `rest` every `everyMs`. */
class Dribbler {
  readonly socket: net.Socket;
  closed = false;
  private timer?: NodeJS.Timeout;

  constructor(port: number, first: string, rest: string, everyMs: number) {
    this.socket = net.connect(port, '127.0.0.1', () => {
      if (first) this.socket.write(first);
      let sent = 0;
      this.timer = setInterval(() => {
        if (sent < rest.length && !this.socket.destroyed) this.socket.write(rest[sent++]);
      }, everyMs);
    });
    // read what the server sends (its 408, its FIN): a paused socket would never notice being closed
    this.socket.resume();
    this.socket.on('error', () => undefined); // a reset is one way of being cut off
    this.socket.on('close', () => {
      this.closed = true;
      clearInterval(this.timer);
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.socket.destroy();
  }
}

describe('api connection time limits', () => {
  let db: TestDatabase;
  let api: AppProcess;
  let port: number;
  const dribblers: Dribbler[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    port = await freePort();
    api = await AppProcess.start('api', {
      ...db.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      CONFIG_DIR: writeConfigDir({ 'app.one': { secret: 'secret-one' } }, { '*': {} }),
      API_HEADERS_TIMEOUT_MS: '1000',
      API_REQUEST_TIMEOUT_MS: '2000',
      API_KEEP_ALIVE_TIMEOUT_MS: '2000',
      API_IDLE_TIMEOUT_MS: '3000',
    });
  });

  afterAll(async () => {
    for (const dribbler of dribblers) dribbler.stop();
    await api?.stop();
    await db?.drop();
  });

  it('cuts off clients that dribble their body, their headers or nothing, and serves others meanwhile', async () => {
    const headers =
      'POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n';
    const body = `{"tag":"${'x'.repeat(9990)}"}`;
    for (let i = 0; i < DRIBBLERS; i++) dribblers.push(new Dribbler(port, headers, body, 300));
    const headerDribblers = Array.from(
      { length: 5 },
      () =>
        new Dribbler(
          port,
          'POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\n',
          'X-Slow: '.padEnd(10_000, 'a'),
          300,
        ),
    );
    const silent = Array.from({ length: 5 }, () => new Dribbler(port, '', '', 1_000));
    dribblers.push(...headerDribblers, ...silent);

    await waitFor(() => dribblers.every((d) => d.socket.readyState === 'open' || d.closed), {
      what: 'every slow client to connect',
    });
    // while they hold their sockets, other clients are answered
    const answer = await fetch(`http://127.0.0.1:${port}/`);
    expect(answer.status).toBe(204);

    await waitFor(() => dribblers.every((d) => d.closed), {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: 'the api to close every slow connection',
    });
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(204);
    expect(api.exitStatus).toBeUndefined();
  });
});
