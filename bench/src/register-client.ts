import * as http from 'node:http';
import { preciseNow } from './latency-stats';

export interface RegisterForm {
  instance_url: string;
  tag: string;
  app_id: string;
  app_secret: string;
  access_token: string;
  callback_url: string;
  endpoint?: string;
  transport?: string;
}

/** POSTs form-encoded registrations over keep-alive connections, as app servers do. */
export class RegisterClient {
  private readonly agent: http.Agent;

  constructor(
    private readonly port: number,
    concurrency: number,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  }

  /** Resolves with the status code and the latency in ms. */
  register(form: RegisterForm): Promise<{ status: number; ms: number }> {
    const body = new URLSearchParams(form as unknown as Record<string, string>).toString();
    const started = preciseNow();
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          path: '/register',
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: preciseNow() - started }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
