import type { IncomingMessage } from 'node:http';
import { HttpService } from '@nestjs/axios';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { AxiosRequestConfig, AxiosResponse } from 'axios';
import type { Histogram } from 'prom-client';
import { AppConfigService, SETTINGS, Settings } from '@app/config';
import { MetricsService } from '@app/observability';
import { literalHostIsPublic, matchingPrefix, urlForLog } from '@app/security';
import { AgentPair, CallbackHttpAgents } from './callback-http-agents';
import { AttemptVerdict, parseRetryAfter, verdictForStatus } from './retry-policy';
import { WebhookSigner } from './webhook-signer';

/** One POST of one event: everything needed to sign and send it. */
export interface CallbackRequest {
  callbackUrl: string;
  appId: string;
  webhookId: string;
  /** The exact JSON body; the signature covers these characters. */
  body: string;
}

export const CALLBACK_USER_AGENT = 'mastodon-streaming-listener/2 (+callback relay)';

const PASS_BODY_THROUGH = [(data: unknown) => data];
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE']);

type TargetPlan = { ok: true; agents: AgentPair } | { ok: false; reason: string };

function errorChain(error: unknown): { code?: string; message?: string; name?: string }[] {
  const chain: { code?: string; message?: string; name?: string }[] = [];
  let current = error as
    { code?: string; message?: string; name?: string; cause?: unknown } | undefined;
  while (current && typeof current === 'object' && chain.length < 5) {
    chain.push(current);
    current = current.cause as typeof current;
  }
  return chain;
}

/**
 * Makes one attempt to deliver one event: applies the address policy, signs,
 * POSTs, and says what the answer means. It never throws; ordering, retries and
 * persistence are the dispatcher's business.
 */
@Injectable()
export class CallbackDeliveryService {
  private readonly logger = new Logger(CallbackDeliveryService.name);
  private readonly signer = new WebhookSigner();
  private readonly inFlight = new Set<AbortController>();
  private readonly requestDuration: Histogram<'result'>;

  constructor(
    private readonly http: HttpService,
    private readonly agents: CallbackHttpAgents,
    private readonly config: AppConfigService,
    @Inject(SETTINGS) private readonly settings: Settings,
    metrics: MetricsService,
  ) {
    this.requestDuration = metrics.histogram(
      'msl_callback_request_duration_seconds',
      'Duration of one callback HTTP request, from sending to the response status (or the failure)',
      ['result'],
      [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    );
  }

  /** Requests currently waiting for an answer. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Ends every request still waiting (at shutdown, once the grace period is over). */
  abortAll(): void {
    for (const controller of this.inFlight) controller.abort();
  }

  async attempt(request: CallbackRequest): Promise<AttemptVerdict> {
    const app = this.config.findApp(request.appId);
    if (!app) return { kind: 'refused', reason: 'app is no longer in app_map' };
    const plan = this.planTarget(request.callbackUrl, app.callbackUrlPrefix);
    if (!plan.ok) return { kind: 'refused', reason: `callback URL ${plan.reason}` };
    const secret = app.webhookSecret ?? app.secret;

    const started = performance.now();
    let verdict = await this.send(request, secret, plan.agents, false);
    if (verdict === 'reset-on-reused-socket') {
      // the receiver closed a pooled keep-alive socket as we wrote to it: the request never got there
      verdict = await this.send(request, secret, plan.agents, true);
    }
    const result = verdict as AttemptVerdict;
    this.requestDuration.observe({ result: result.kind }, (performance.now() - started) / 1000);
    return result;
  }

  private planTarget(callbackUrl: string, prefixes: string | string[] | undefined): TargetPlan {
    let url: URL;
    try {
      url = new URL(callbackUrl);
    } catch {
      return { ok: false, reason: 'is not a valid URL' };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      return { ok: false, reason: 'is not http(s)' };
    if (url.username || url.password) return { ok: false, reason: 'contains credentials' };
    if (prefixes !== undefined) {
      return matchingPrefix(callbackUrl, prefixes)
        ? { ok: true, agents: this.agents.trusted }
        : { ok: false, reason: 'does not start with a callbackUrlPrefix of this app' };
    }
    // IP literals never reach the agent's lookup, so they are judged here; names are judged when connecting
    if (literalHostIsPublic(url) === false) {
      return { ok: false, reason: 'resolves to a loopback, private or link-local address' };
    }
    return { ok: true, agents: this.agents.publicOnly };
  }

  private async send(
    request: CallbackRequest,
    secret: string,
    agents: AgentPair,
    isRepeat: boolean,
  ): Promise<AttemptVerdict | 'reset-on-reused-socket'> {
    const now = Date.now();
    const controller = new AbortController();
    const timeoutMs = this.settings.callback.timeoutMs;
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    this.inFlight.add(controller);
    const config: AxiosRequestConfig = {
      method: 'POST',
      url: request.callbackUrl,
      data: request.body,
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': CALLBACK_USER_AGENT,
        Accept: '*/*',
        ...this.signer.sign(secret, request.webhookId, now, request.body),
      },
      transformRequest: PASS_BODY_THROUGH,
      timeout: timeoutMs,
      maxRedirects: 0,
      validateStatus: () => true,
      responseType: 'stream',
      decompress: false,
      // a proxy from the environment would make the address policy judge the proxy instead of the receiver
      proxy: false,
      httpAgent: agents.httpAgent,
      httpsAgent: agents.httpsAgent,
      signal: controller.signal,
    };
    try {
      const response = await this.http.axiosRef.request<
        IncomingMessage,
        AxiosResponse<IncomingMessage>
      >(config);
      this.drain(response.data, now + timeoutMs);
      return verdictForStatus(
        response.status,
        parseRetryAfter(response.headers['retry-after'], Date.now()),
      );
    } catch (error) {
      return this.verdictForError(error, isRepeat);
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
  }

  private verdictForError(
    error: unknown,
    isRepeat: boolean,
  ): AttemptVerdict | 'reset-on-reused-socket' {
    const chain = errorChain(error);
    if (chain.some((e) => e.code === 'ERR_CALLBACK_ADDRESS_REFUSED')) {
      return {
        kind: 'refused',
        reason: 'callback host resolves to a loopback, private or link-local address',
      };
    }
    const code = chain.map((e) => e.code).find((c) => c !== undefined);
    const request = (error as { request?: { reusedSocket?: boolean } }).request;
    if (!isRepeat && code !== undefined && RESET_CODES.has(code) && request?.reusedSocket) {
      return 'reset-on-reused-socket';
    }
    if (code === 'ERR_CANCELED' || code === 'ECONNABORTED' || code === 'ETIMEDOUT') {
      return { kind: 'retry', reason: 'timeout' };
    }
    return { kind: 'retry', reason: code ?? (chain[0]?.message ?? 'request failed').slice(0, 200) };
  }

  /**
   * Reads the receiver's answer to its end so the socket can serve the next
   * request, but no more than maxResponseBytes and not past the deadline: a
   * receiver cannot hold memory or a pooled socket by answering at length.
   */
  private drain(stream: IncomingMessage, deadline: number): void {
    const limit = this.settings.callback.maxResponseBytes;
    let received = 0;
    const giveUp = setTimeout(() => stream.destroy(), Math.max(deadline - Date.now(), 0));
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) stream.destroy();
    });
    stream.on('error', () => undefined);
    stream.on('close', () => clearTimeout(giveUp));
  }

  /** For log lines: the callback without query string or credentials. */
  static describe(callbackUrl: string): string {
    return urlForLog(callbackUrl);
  }
}
