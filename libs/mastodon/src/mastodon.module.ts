import { HttpModule } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { AddressGuardService } from './address-guard.service';
import {
  INSTANCE_INFO_MAX_BYTES,
  INSTANCE_INFO_TIMEOUT_MS,
  InstanceInfoService,
} from './instance-info.service';
import { MastodonStreamFactory } from './mastodon-stream';
import { MastodonPushClient } from './push/mastodon-push.client';
import { MastodonRestClient } from './rest/mastodon-rest.client';
import { StreamTargetService } from './stream-target.service';

const AGENT_OPTIONS = { keepAlive: true, maxSockets: 8, maxFreeSockets: 2, timeout: 60_000 };

/**
 * Mastodon client side: instance info over keep-alive agents (one small pool
 * per process; info is cached, so few requests), address checks, stream
 * targets, the REST client of catch-up. Streams themselves are MastodonStream objects owned by the caller.
 */
@Module({
  imports: [
    HttpModule.registerAsync({
      useFactory: () => ({
        httpAgent: new HttpAgent(AGENT_OPTIONS),
        httpsAgent: new HttpsAgent(AGENT_OPTIONS),
        timeout: INSTANCE_INFO_TIMEOUT_MS,
        maxContentLength: INSTANCE_INFO_MAX_BYTES,
        maxBodyLength: 0,
        headers: { 'User-Agent': 'mastodon-streaming-listener' },
      }),
    }),
  ],
  providers: [
    AddressGuardService,
    InstanceInfoService,
    StreamTargetService,
    MastodonStreamFactory,
    MastodonRestClient,
    MastodonPushClient,
  ],
  exports: [
    AddressGuardService,
    InstanceInfoService,
    StreamTargetService,
    MastodonStreamFactory,
    MastodonRestClient,
    MastodonPushClient,
  ],
})
export class MastodonModule {}
