import * as net from 'node:net';

/** What an api answered: status, content type and the body (parsed when JSON). */
export interface Answer {
  status: number;
  contentType: string;
  text: string;
  json: unknown;
}

function answerOf(status: number, contentType: string, text: string): Answer {
  const json = contentType.startsWith('application/json')
    ? (JSON.parse(text) as unknown)
    : undefined;
  return { status, contentType, text, json };
}

export function formBody(fields: Record<string, string | string[] | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) params.append(name, item);
  }
  return params.toString();
}

/**
 * Sends `request` (a whole HTTP/1.1 request, bytes as given) in one write and
 * reads the answer until the server closes. For requests the server answers
 * before reading them whole (413): the server has then already taken every byte
 * off the socket, so closing does not reset the connection under the answer.
 */
export async function rawHttpExchange(port: number, request: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.end(request));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      const text = Buffer.concat(chunks).toString('utf8');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (!status) {
        reject(error ?? new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
        return;
      }
      const headerEnd = text.indexOf('\r\n\r\n');
      const contentType = /\r\ncontent-type: *([^\r]*)/i.exec(text.slice(0, headerEnd))?.[1] ?? '';
      resolve(answerOf(Number(status[1]), contentType, text.slice(headerEnd + 4)));
    };
    socket.on('error', finish);
    socket.on('close', () => finish());
  });
}

/** A small client for one api process on loopback. */
export class ApiClient {
  constructor(readonly baseUrl: string) {}

  get port(): number {
    return Number(new URL(this.baseUrl).port);
  }

  async get(path: string): Promise<Answer> {
    const response = await fetch(`${this.baseUrl}${path}`);
    return answerOf(
      response.status,
      response.headers.get('content-type') ?? '',
      await response.text(),
    );
  }

  /** POSTs raw bytes with the given Content-Type (none when undefined). */
  async postRaw(
    path: string,
    body: string | Buffer,
    contentType: string | undefined,
  ): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (contentType !== undefined) headers['content-type'] = contentType;
    // bytes, so that fetch adds no Content-Type of its own (it would add text/plain for a string)
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const response = await fetch(`${this.baseUrl}${path}`, {
      method: 'POST',
      headers,
      body: bytes,
    });
    return answerOf(
      response.status,
      response.headers.get('content-type') ?? '',
      await response.text(),
    );
  }

  async postForm(
    path: string,
    fields: Record<string, string | string[] | undefined>,
  ): Promise<Answer> {
    return this.postRaw(path, formBody(fields), 'application/x-www-form-urlencoded');
  }

  async postJson(path: string, body: unknown): Promise<Answer> {
    return this.postRaw(path, JSON.stringify(body), 'application/json');
  }

  /** POSTs with a Content-Length, head and body in one write (see rawHttpExchange). */
  async postInOneWrite(path: string, body: string, contentType: string): Promise<Answer> {
    const bytes = Buffer.from(body, 'utf8');
    const head =
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\n` +
      `Content-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`;
    return rawHttpExchange(this.port, Buffer.concat([Buffer.from(head), bytes]));
  }
}
