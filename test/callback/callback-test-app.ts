import { LoggerService } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { CallbackDispatcher, CallbackModule, RelayEvent, relayTargetOf } from '@app/callback';
import { ConfigModule, parseSettings } from '@app/config';
import { DatabaseModule, PendingDeliveryRepository, RegistrationRepository } from '@app/database';
import { MetricsModule, MetricsService } from '@app/observability';
import type { TestDatabase } from '../support/test-database';

/** Keeps every log line, so specs can assert on what was (not) logged. */
export class CollectingLogger implements LoggerService {
  readonly lines: string[] = [];
  private add(level: string, message: unknown, params: unknown[]): void {
    this.lines.push(`${level} ${String(message)} ${params.map(String).join(' ')}`);
    if (process.env.MSL_TEST_ECHO) process.stderr.write(`${level} ${String(message)}\n`);
  }
  log(message: unknown, ...params: unknown[]): void {
    this.add('log', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.add('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.add('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.add('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.add('verbose', message, params);
  }
}

/**
 * The callback library alone in a Nest application context, against a real
 * database: what the listener embeds, without the streams in front of it.
 */
export class CallbackTestApp {
  private constructor(
    readonly moduleRef: TestingModule,
    readonly logger: CollectingLogger,
  ) {}

  static async start(db: TestDatabase, env: Record<string, string>): Promise<CallbackTestApp> {
    const settings = parseSettings({
      ...db.env,
      CALLBACK_TIMEOUT_MS: '2500',
      CALLBACK_RETRY_POLL_MS: '100',
      CALLBACK_RETRY_BASE_MS: '100',
      CALLBACK_RETRY_MAX_MS: '400',
      SHUTDOWN_TIMEOUT_MS: '4000',
      ...env,
    });
    const moduleRef = await Test.createTestingModule({
      imports: [
        ConfigModule.forRoot(settings),
        DatabaseModule.forRootAsync(),
        MetricsModule,
        CallbackModule,
      ],
    }).compile();
    const logger = new CollectingLogger();
    moduleRef.useLogger(logger);
    await moduleRef.init();
    return new CallbackTestApp(moduleRef, logger);
  }

  get dispatcher(): CallbackDispatcher {
    return this.moduleRef.get(CallbackDispatcher);
  }

  get registrations(): RegistrationRepository {
    return this.moduleRef.get(RegistrationRepository);
  }

  get pending(): PendingDeliveryRepository {
    return this.moduleRef.get(PendingDeliveryRepository);
  }

  /** Current value of msl_callbacks_total{outcome}. */
  async outcomes(outcome: string): Promise<number> {
    const metric = this.moduleRef
      .get(MetricsService)
      .registry.getSingleMetric('msl_callbacks_total');
    const values = (await metric?.get())?.values ?? [];
    return values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  }

  async metricsText(): Promise<string> {
    return this.moduleRef.get(MetricsService).render();
  }

  /** Graceful shutdown, as on SIGTERM. */
  async close(): Promise<void> {
    await this.moduleRef.close();
  }
}

let tagCounter = 0;

/** Stores a registration and returns what the listener would know of it. */
export async function createRegistration(
  registrations: RegistrationRepository,
  values: { appId: string; callbackUrl: string; instanceUrl?: string },
): Promise<{ id: number; instanceUrl: string; appId: string; tag: string; callbackUrl: string }> {
  const key = {
    instanceUrl: values.instanceUrl ?? 'https://mastodon.example',
    appId: values.appId,
    tag: `tag-${process.pid}-${++tagCounter}`,
  };
  await registrations.upsert({
    ...key,
    accessToken: 'token-never-logged',
    appSecretHash: 'sha256:00',
    callbackUrl: values.callbackUrl,
    endpoint: 'user',
    lastUpdate: Date.now(),
  });
  const stored = await registrations.findByKey(key);
  if (!stored) throw new Error('registration was not stored');
  return { id: stored.id, ...key, callbackUrl: values.callbackUrl };
}

/** A notification event numbered `seq` (its payload is a JSON string, as Mastodon sends it). */
export function notificationEvent(
  registration: {
    id: number;
    instanceUrl: string;
    appId: string;
    tag: string;
    callbackUrl: string;
  },
  seq: number,
): RelayEvent {
  return {
    ...relayTargetOf(registration),
    event: 'notification',
    payload: JSON.stringify({ id: String(seq), type: 'mention', seq }),
    receivedAt: Date.now(),
  };
}

/** The `seq` a received callback body carries (see notificationEvent). */
export function seqOf(json: unknown): number {
  const body = json as { payload: string };
  return (JSON.parse(body.payload) as { seq: number }).seq;
}
