import { HttpService } from '@nestjs/axios';
import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { AxiosError, AxiosRequestConfig } from 'axios';
import { Agent as HttpAgent } from 'node:http';
import { firstValueFrom } from 'rxjs';
import { SETTINGS, Settings } from '@app/config';
import {
  AddressGuardService,
  publicOnlyLookup,
  redirectAllowed,
  RefusedAddressError,
} from './address-guard.service';
import { instanceInfoUrl, isStreamingBaseUrl } from './streaming-url';

/** What the listener needs from `/api/v1/instance`. */
export interface InstanceInfo {
  version: string;
  /** `urls.streaming_api` when the instance announces a valid one. */
  streamingApi?: string;
}

/** `/api/v1/instance` could not be read or its answer is unusable. The message names no secret. */
export class InstanceInfoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstanceInfoError';
  }
}

export const INSTANCE_INFO_TIMEOUT_MS = 10_000;
export const INSTANCE_INFO_MAX_BYTES = 1_048_576;
export const INSTANCE_INFO_MAX_REDIRECTS = 3;
/** A failure is remembered briefly so that thousands of streams retrying do not each ask again. */
export const INSTANCE_INFO_FAILURE_TTL_MS = 5_000;

interface CacheEntry {
  result: InstanceInfo | Error;
  expiresAt: number;
}

/** Validates the JSON of `/api/v1/instance`; anything else in it is ignored. */
export function parseInstanceInfo(body: unknown): InstanceInfo {
  let data: unknown = body;
  if (typeof body === 'string') {
    try {
      data = JSON.parse(body);
    } catch {
      throw new InstanceInfoError('answer is not JSON');
    }
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new InstanceInfoError('answer is not a JSON object');
  }
  const { version, urls } = data as { version?: unknown; urls?: unknown };
  if (typeof version !== 'string' || version.trim() === '' || version.length > 200) {
    throw new InstanceInfoError('answer has no usable version');
  }
  const info: InstanceInfo = { version: version.trim() };
  if (urls !== null && typeof urls === 'object' && !Array.isArray(urls)) {
    const streamingApi = (urls as { streaming_api?: unknown }).streaming_api;
    if (isStreamingBaseUrl(streamingApi)) info.streamingApi = streamingApi;
  }
  return info;
}

function describeFailure(error: unknown): Error {
  if (error instanceof InstanceInfoError || error instanceof RefusedAddressError) return error;
  if (error instanceof AxiosError) {
    const cause: (Error & { code?: string }) | undefined = error.cause;
    if (cause instanceof RefusedAddressError) return cause;
    if (error.response) return new InstanceInfoError(`answered HTTP ${error.response.status}`);
    if (error.code === AxiosError.ECONNABORTED || error.code === AxiosError.ETIMEDOUT) {
      return new InstanceInfoError(`no answer within ${INSTANCE_INFO_TIMEOUT_MS} ms`);
    }
    if (error.code === AxiosError.ERR_BAD_RESPONSE && /maxContentLength/.test(error.message)) {
      return new InstanceInfoError(`answer larger than ${INSTANCE_INFO_MAX_BYTES} bytes`);
    }
    if (/redirect/i.test(error.message)) return new InstanceInfoError(error.message);
    return new InstanceInfoError(
      `request failed (${cause?.code ?? error.code ?? 'network error'})`,
    );
  }
  return new InstanceInfoError(`request failed (${(error as Error)?.message ?? 'unknown error'})`);
}

/**
 * `GET {webBase}/api/v1/instance`, cached per base for INSTANCE_INFO_TTL_MS.
 * Concurrent asks for one base share one request, so ten thousand
 * registrations on one instance cost one request per TTL.
 */
@Injectable()
export class InstanceInfoService implements OnModuleDestroy {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<InstanceInfo>>();
  private readonly ttlMs: number;

  constructor(
    private readonly http: HttpService,
    private readonly guard: AddressGuardService,
    @Inject(SETTINGS) settings: Settings,
  ) {
    this.ttlMs = settings.listener.instanceInfoTtlMs;
  }

  onModuleDestroy(): void {
    const defaults = this.http.axiosRef.defaults;
    (defaults.httpAgent as HttpAgent | undefined)?.destroy();
    (defaults.httpsAgent as HttpAgent | undefined)?.destroy();
  }

  /**
   * `guard`: the base came from outside (the instance URL, not `replaceUrlWeb`),
   * so it and any redirect must resolve to public addresses only.
   * Rejects with InstanceInfoError or RefusedAddressError.
   */
  async get(webBase: string, options: { guard: boolean }): Promise<InstanceInfo> {
    const key = `${options.guard ? 'public' : 'any'} ${webBase}`;
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt > Date.now()) {
      if (cached.result instanceof Error) throw cached.result;
      return cached.result;
    }
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const request = this.fetch(webBase, options.guard).then(
      (info) => {
        this.cache.set(key, { result: info, expiresAt: Date.now() + this.ttlMs });
        return info;
      },
      (error: unknown) => {
        const failure = describeFailure(error);
        this.cache.set(key, {
          result: failure,
          expiresAt: Date.now() + Math.min(this.ttlMs, INSTANCE_INFO_FAILURE_TTL_MS),
        });
        throw failure;
      },
    );
    this.inFlight.set(key, request);
    void request.catch(() => undefined).finally(() => this.inFlight.delete(key));
    return request;
  }

  /** Forgets every cached answer (after a config reload may have changed replaceUrlWeb). */
  clear(): void {
    this.cache.clear();
  }

  private async fetch(webBase: string, guard: boolean): Promise<InstanceInfo> {
    const url = instanceInfoUrl(webBase);
    if (guard) await this.guard.assertPublic(new URL(url), 'instance URL');
    const response = await firstValueFrom(
      this.http.get<string>(url, {
        responseType: 'text',
        headers: { Accept: 'application/json' },
        timeout: INSTANCE_INFO_TIMEOUT_MS,
        maxContentLength: INSTANCE_INFO_MAX_BYTES,
        maxRedirects: INSTANCE_INFO_MAX_REDIRECTS,
        // callback-style like dns.lookup, which axios accepts; its typing only knows its own address type
        lookup: guard ? (publicOnlyLookup as unknown as AxiosRequestConfig['lookup']) : undefined,
        beforeRedirect: (redirect: {
          href?: string;
          protocol?: string;
          host?: string;
          path?: string;
        }) => {
          const target = new URL(
            redirect.href ?? `${redirect.protocol}//${redirect.host}${redirect.path ?? '/'}`,
          );
          const verdict = redirectAllowed(new URL(url), target, guard);
          if (!verdict.ok) throw new InstanceInfoError(verdict.reason);
        },
        validateStatus: (status) => status === 200,
      }),
    );
    return parseInstanceInfo(response.data);
  }
}
