import { Inject, Injectable } from '@nestjs/common';
import type { Histogram } from 'prom-client';
import type { Agent } from 'undici';
import { AppConfigService, SETTINGS, Settings } from '@app/config';
import { MetricsService } from '@app/observability';
import { literalHostIsPublic, matchingPrefix, parseCallbackUrl, urlForLog } from '@app/security';
import { CallbackHttpAgents, isErrorOfUsedSocket } from './callback-http-agents';
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

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);
const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/** What a receiver answered to one probe (see CallbackDeliveryService.probe). */
export interface CallbackProbeResult {
  verdict: AttemptVerdict;
  /** Absent when no answer came (refused, timeout, connection error). */
  status?: number;
  /** The start of the answer's body (at most PROBE_BODY_BYTES). */
  body?: string;
  durationMs: number;
}

/** How much of a probe's answer is kept to be shown. */
const PROBE_BODY_BYTES = 2_048;

/** Where `send` leaves the answer when its caller wants to see it. */
interface AnswerSink {
  status?: number;
  body?: string;
}

type TargetPlan = { ok: true; url: URL; agent: Agent } | { ok: false; reason: string };

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

/** The first `limit` bytes of a body as text; the rest is not read (the socket is closed). */
async function readStart(body: AsyncIterable<Buffer> & { destroy(): void }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) break;
  }
  if (size >= limit) body.destroy();
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/**
 * Makes one attempt to deliver one event: applies the address policy, signs,
 * POSTs, and says what the answer means. It never throws; ordering, retries and
 * persistence are the dispatcher's business.
 */
@Injectable()
export class CallbackDeliveryService {
  private readonly signer = new WebhookSigner();
  private readonly inFlight = new Set<AbortController>();
  private readonly requestDuration: Histogram<'result'>;

  constructor(
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

  /** Ends every request still waiting (at shutdown, once the grace period is over). */
  abortAll(): void {
    for (const controller of this.inFlight) controller.abort();
  }

  async attempt(request: CallbackRequest): Promise<AttemptVerdict> {
    return (await this.attemptWith(request, undefined)).verdict;
  }

  /**
   * One attempt, exactly as an event's (same policy, signing and agents), whose
   * answer is kept: for an operator checking that a receiver works.
   */
  async probe(request: CallbackRequest): Promise<CallbackProbeResult> {
    const answer: AnswerSink = {};
    const { verdict, durationMs } = await this.attemptWith(request, answer);
    return { verdict, status: answer.status, body: answer.body, durationMs };
  }

  private async attemptWith(
    request: CallbackRequest,
    answer: AnswerSink | undefined,
  ): Promise<{ verdict: AttemptVerdict; durationMs: number }> {
    const app = this.config.findApp(request.appId);
    if (!app) return { verdict: { kind: 'refused', reason: 'app is no longer in app_map' }, durationMs: 0 };
    const plan = this.planTarget(request.callbackUrl, app.callbackUrlPrefix);
    if (!plan.ok) return { verdict: { kind: 'refused', reason: `callback URL ${plan.reason}` }, durationMs: 0 };
    const secret = app.webhookSecret ?? app.secret;

    const started = performance.now();
    let verdict = await this.send(request, secret, plan, false, answer);
    if (verdict === 'reset-on-reused-socket') {
      // the receiver closed a pooled keep-alive socket as we wrote to it: the request never got there
      verdict = await this.send(request, secret, plan, true, answer);
    }
    const result = verdict as AttemptVerdict;
    const durationMs = performance.now() - started;
    this.requestDuration.observe({ result: result.kind }, durationMs / 1000);
    return { verdict: result, durationMs };
  }

  private planTarget(callbackUrl: string, prefixes: string | string[] | undefined): TargetPlan {
    const parsed = parseCallbackUrl(callbackUrl);
    if (!parsed.ok) return parsed;
    const url = parsed.url;
    if (prefixes !== undefined) {
      return matchingPrefix(url, prefixes)
        ? { ok: true, url, agent: this.agents.trusted }
        : { ok: false, reason: 'does not start with a callbackUrlPrefix of this app' };
    }
    // IP literals never reach the agent's lookup, so they are judged here; names are judged when connecting
    if (literalHostIsPublic(url) === false) {
      return { ok: false, reason: 'resolves to a loopback, private or link-local address' };
    }
    return { ok: true, url, agent: this.agents.publicOnly };
  }

  private async send(
    request: CallbackRequest,
    secret: string,
    target: { url: URL; agent: Agent },
    isRepeat: boolean,
    answer: AnswerSink | undefined,
  ): Promise<AttemptVerdict | 'reset-on-reused-socket'> {
    const now = Date.now();
    const controller = new AbortController();
    // one deadline for connecting, the answer and reading its body
    const timer = setTimeout(() => controller.abort(), this.settings.callback.timeoutMs);
    const stopTimer = () => clearTimeout(timer);
    this.inFlight.add(controller);
    try {
      const response = await target.agent.request({
        origin: target.url.origin,
        path: target.url.pathname + target.url.search,
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': CALLBACK_USER_AGENT,
          Accept: '*/*',
          ...this.signer.sign(secret, request.webhookId, now, request.body),
        },
        body: request.body,
        signal: controller.signal,
      });
      if (answer) {
        answer.status = response.statusCode;
        answer.body = await readStart(response.body, PROBE_BODY_BYTES).finally(stopTimer);
      } else {
        // read to its end so the socket can serve the next request, but no further than
        // maxResponseBytes (the socket is closed instead): a receiver cannot hold memory by answering at length
        response.body
          .dump({ limit: this.settings.callback.maxResponseBytes })
          .then(stopTimer, stopTimer);
      }
      return verdictForStatus(
        response.statusCode,
        parseRetryAfter(response.headers['retry-after'], Date.now()),
      );
    } catch (error) {
      stopTimer();
      return this.verdictForError(error, controller.signal.aborted, isRepeat);
    } finally {
      this.inFlight.delete(controller);
    }
  }

  private verdictForError(
    error: unknown,
    timedOut: boolean,
    isRepeat: boolean,
  ): AttemptVerdict | 'reset-on-reused-socket' {
    const chain = errorChain(error);
    if (chain.some((e) => e.code === 'ERR_CALLBACK_ADDRESS_REFUSED')) {
      return {
        kind: 'refused',
        reason: 'callback host resolves to a loopback, private or link-local address',
      };
    }
    const code = chain.map((e) => e.code).find((c) => typeof c === 'string');
    if (timedOut || (code !== undefined && TIMEOUT_CODES.has(code))) {
      return { kind: 'retry', reason: 'timeout' };
    }
    if (!isRepeat && code !== undefined && RESET_CODES.has(code) && isErrorOfUsedSocket(error)) {
      return 'reset-on-reused-socket';
    }
    return { kind: 'retry', reason: code ?? (chain[0]?.message ?? 'request failed').slice(0, 200) };
  }

  /** For log lines: the callback without query string or credentials. */
  static describe(callbackUrl: string): string {
    return urlForLog(callbackUrl);
  }
}
