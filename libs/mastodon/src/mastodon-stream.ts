import { Injectable } from '@nestjs/common';
import WebSocket, { ClientOptions, RawData } from 'ws';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { createSecureContext, SecureContext } from 'node:tls';
import { publicOnlyLookup, RefusedAddressError, redirectAllowed } from './address-guard.service';

/** Why a stream ended; the label set of msl_stream_failures_total (with instance_info, decided before connecting). */
export type StreamFailureReason =
  | 'unauthorized'
  | 'http_status'
  | 'network'
  | 'timeout'
  | 'closed'
  | 'too_large'
  | 'refused_address';

export interface StreamEnd {
  reason: StreamFailureReason;
  /** Whether the WebSocket had opened (false: the handshake failed). */
  opened: boolean;
  /** Whether close() or terminate() was called by this process. */
  deliberate: boolean;
  /** WebSocket close code, when it had opened. */
  code?: number;
  /** HTTP status of a refused upgrade. */
  status?: number;
  /** For a log line: never the token, never a query string. */
  detail: string;
}

/** Receives a stream's life; one handler serves every stream (no closures per stream beyond the socket's). */
export interface MastodonStreamHandler<C> {
  streamOpened(stream: MastodonStream<C>): void;
  streamMessage(stream: MastodonStream<C>, data: Buffer, isBinary: boolean): void;
  /** Called exactly once per open(). */
  streamEnded(stream: MastodonStream<C>, end: StreamEnd): void;
}

export interface MastodonStreamOptions {
  /** Full streaming URL (`…/api/v1/streaming?stream=…`), without any token. */
  url: URL;
  accessToken: string;
  /** The URL came from outside: refuse non-public addresses, redirects included. */
  guard: boolean;
  maxPayloadBytes?: number;
  handshakeTimeoutMs?: number;
  maxRedirects?: number;
  userAgent?: string;
}

export const STREAM_MAX_PAYLOAD_BYTES = 1_048_576;
export const STREAM_HANDSHAKE_TIMEOUT_MS = 15_000;
export const STREAM_MAX_REDIRECTS = 3;

/** Keeps error details loggable: no query strings (where tokens travel in some clients), bounded length. */
function safeDetail(text: string): string {
  return text.replace(/\?\S*/g, '?…').slice(0, 160);
}

/** Maps a socket or handshake error to a failure reason. */
export function classifyStreamError(error: Error & { code?: string }): {
  reason: StreamFailureReason;
  detail: string;
} {
  const code = error.code;
  const detail = safeDetail(code ? `${code}: ${error.message}` : error.message);
  if (error instanceof RefusedAddressError || code === 'ERR_MSL_REFUSED_ADDRESS')
    return { reason: 'refused_address', detail };
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return { reason: 'too_large', detail };
  if (code === 'ETIMEDOUT' || /handshake has timed out/i.test(error.message))
    return { reason: 'timeout', detail };
  if (code && code.startsWith('WS_ERR_')) return { reason: 'closed', detail };
  if (/Maximum redirects exceeded|Unexpected server response/.test(error.message))
    return { reason: 'http_status', detail };
  // ECONNREFUSED, ECONNRESET, ENOTFOUND, EAI_AGAIN, EHOSTUNREACH, … and anything unknown
  return { reason: 'network', detail };
}

let secureContext: SecureContext | undefined;

/**
 * Key exchange groups offered on wss:// streams, in order. A client sends a
 * key share for the first only (a server wanting another asks for it once,
 * at the handshake): X25519, which every TLS 1.3 server has. Node 24's own
 * first group, the post-quantum hybrid X25519MLKEM768, left about 8 KB more
 * per idle stream (measured: 68 against 60 KB per TLS stream).
 */
export const STREAM_TLS_GROUPS = 'X25519:P-256:P-384';

/**
 * One TLS context (the default roots, NODE_EXTRA_CA_CERTS included) for every
 * wss:// stream: contexts are identical, and sharing one keeps tens of
 * thousands of streams from holding a copy each.
 */
function sharedSecureContext(): SecureContext {
  // Stryker disable next-line ObjectLiteral: the groups change the memory a stream holds, not what it does
  secureContext ??= createSecureContext({ ecdhCurve: STREAM_TLS_GROUPS });
  return secureContext;
}

/**
 * One WebSocket to a Mastodon streaming API, for one registration. The token
 * travels only in the Authorization header. Reconnecting is the owner's
 * business: this object reports how its connection ended, exactly once.
 */
export class MastodonStream<C> {
  /** A ping was sent and no frame or pong has arrived since. */
  private awaitingPong = false;
  private socket: WebSocket | undefined;
  private opened = false;
  private deliberate = false;
  private ended = false;
  private failure: { reason: StreamFailureReason; status?: number; detail: string } | undefined;

  constructor(
    readonly context: C,
    private readonly handler: MastodonStreamHandler<C>,
  ) {}

  get isOpen(): boolean {
    return this.opened && !this.ended;
  }

  open(options: MastodonStreamOptions): void {
    const clientOptions: ClientOptions & {
      lookup?: typeof publicOnlyLookup;
      secureContext?: SecureContext;
    } = {
      headers: {
        Authorization: `Bearer ${options.accessToken}`,
        'User-Agent': options.userAgent ?? 'mastodon-streaming-listener',
      },
      perMessageDeflate: false,
      maxPayload: options.maxPayloadBytes ?? STREAM_MAX_PAYLOAD_BYTES,
      handshakeTimeout: options.handshakeTimeoutMs ?? STREAM_HANDSHAKE_TIMEOUT_MS,
      followRedirects: true,
      maxRedirects: options.maxRedirects ?? STREAM_MAX_REDIRECTS,
      lookup: options.guard ? publicOnlyLookup : undefined,
      // unused by ws:// streams; a wss:// one without it builds a context of its own (about 20 KB each)
      secureContext: sharedSecureContext(),
    };
    let socket: WebSocket;
    try {
      socket = new WebSocket(options.url, clientOptions);
    } catch (error) {
      this.failure = { reason: 'network', detail: safeDetail((error as Error).message) };
      queueMicrotask(() => this.finish(1006));
      return;
    }
    this.socket = socket;
    socket.on('open', () => {
      this.opened = true;
      this.safely(() => this.handler.streamOpened(this));
    });
    socket.on('message', (data: RawData, isBinary: boolean) => {
      this.awaitingPong = false;
      this.safely(() => this.handler.streamMessage(this, data as Buffer, isBinary));
    });
    socket.on('pong', () => {
      this.awaitingPong = false;
    });
    socket.on('redirect', (url: string, request: ClientRequest) => {
      // having this listener also keeps ws from dropping the Authorization
      // header on a redirect to another host: the instance chose that host, as it chooses streaming_api
      const verdict = redirectAllowed(options.url, new URL(url), options.guard);
      if (!verdict.ok) {
        this.failure ??= { reason: 'refused_address', detail: verdict.reason };
        request.destroy(new Error(verdict.reason));
      }
    });
    socket.on('unexpected-response', (_request: ClientRequest, response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      this.failure ??= {
        reason: status === 401 || status === 403 ? 'unauthorized' : 'http_status',
        status,
        detail: `upgrade answered HTTP ${status}`,
      };
      response.resume();
      socket.terminate();
    });
    socket.on('error', (error: Error & { code?: string }) => {
      this.failure ??= classifyStreamError(error);
    });
    socket.on('close', (code: number) => this.finish(code));
  }

  /**
   * Called by the owner's shared ping sweep. Returns false, after terminating
   * the socket, when the previous ping went unanswered (a dead peer).
   * `forgiveMissedPong`: this process itself was stalled since the previous
   * sweep, so an answer may be waiting unread; ping again instead of cutting.
   */
  ping(forgiveMissedPong = false): boolean {
    const socket = this.socket;
    if (!socket || !this.opened || this.ended || socket.readyState !== WebSocket.OPEN) return true;
    if (this.awaitingPong && !forgiveMissedPong) {
      this.failure ??= { reason: 'timeout', detail: 'no pong since the previous ping' };
      socket.terminate();
      return false;
    }
    this.awaitingPong = true;
    try {
      socket.ping();
    } catch {
      // the socket is closing: its close event reports the end
    }
    return true;
  }

  /** Closes on this process's initiative (removal, shutdown); streamEnded still follows, marked deliberate. */
  close(code = 1000, reason = ''): void {
    this.deliberate = true;
    const socket = this.socket;
    if (!socket || this.ended) return;
    try {
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
      else socket.close(code, reason);
    } catch {
      socket.terminate();
    }
  }

  /** Drops the connection without a closing handshake. */
  terminate(): void {
    this.deliberate = true;
    this.socket?.terminate();
  }

  private finish(code: number): void {
    // Stryker disable next-line ConditionalExpression: a socket reports close once, and a stream without one finishes once
    if (this.ended) return;
    this.ended = true;
    const failure = this.failure ?? {
      reason: 'closed' as const,
      detail: `closed with code ${code}`,
    };
    const end: StreamEnd = {
      reason: failure.reason,
      opened: this.opened,
      deliberate: this.deliberate,
      detail: failure.detail,
    };
    if (this.opened) end.code = code;
    if (failure.status !== undefined) end.status = failure.status;
    this.socket = undefined;
    this.safely(() => this.handler.streamEnded(this, end));
  }

  /** Nothing a handler does may escape into the socket's event loop and crash the process. */
  private safely(action: () => void): void {
    try {
      action();
    } catch {
      // handlers catch and log their own errors; this is the last line of defence
    }
  }
}

/** Creates streams; injected so that the owner's logic can be tested without sockets. */
@Injectable()
export class MastodonStreamFactory {
  create<C>(context: C, handler: MastodonStreamHandler<C>): MastodonStream<C> {
    return new MastodonStream(context, handler);
  }
}
