import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

export const DOCS_PATH = 'docs';

const signatureHeader = (name: string, description: string, example: string) => ({
  name,
  in: 'header' as const,
  required: true,
  description,
  schema: { type: 'string' as const, example },
});

/**
 * What the listener POSTs to a registration's callback_url: not an endpoint of
 * this api, so it is described as the callback of POST /register.
 */
function addCallbackContract(document: OpenAPIObject): void {
  document.components ??= {};
  document.components.schemas ??= {};
  document.components.schemas.CallbackBody = {
    type: 'object',
    required: ['instanceUrl', 'tag', 'appId', 'event', 'payload'],
    properties: {
      instanceUrl: { type: 'string', description: 'The registration\'s instance_url, normalised.', example: 'http://127.0.0.1:3000' },
      tag: { type: 'string', description: "The registration's tag.", example: 'user-42-device-7' },
      appId: { type: 'string', description: "The registration's app_id.", example: 'local.trial' },
      event: {
        type: 'string',
        description: 'The Mastodon streaming event: notification (every stream) or conversation (the direct stream).',
        example: 'notification',
      },
      payload: {
        type: 'string',
        description: "Exactly what Mastodon sent: the notification's (or conversation's) JSON, as a string.",
        example: '{"id":"109000000000000001","type":"follow","account":{"acct":"alice"}}',
      },
    },
  };
  const register = document.paths['/register']?.post;
  if (!register) return;
  register.callbacks = {
    relayedEvent: {
      '{$request.body#/callback_url}': {
        post: {
          summary: 'One relayed event, signed per Standard Webhooks',
          description:
            'Key: the UTF-8 bytes of the app\'s webhookSecret (default: its secret). Verify over the raw body, e.g. with the standardwebhooks package; deduplicate on webhook-id (delivery is at least once).',
          parameters: [
            signatureHeader('webhook-id', 'One per event, the same on every retry and for the same Mastodon object relayed again.', 'msg_b987e41051d54a8baed6a27c082c4ef6'),
            signatureHeader('webhook-timestamp', 'Unix time of this attempt, in seconds.', '1714564800'),
            signatureHeader(
              'webhook-signature',
              'v1, then the base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>".',
              'v1,2drtvrSuixqt/rfHMXGTzDooyiwQ2aC/zPt+OTwatPQ=',
            ),
          ],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/CallbackBody' } } },
          },
          responses: {
            '2XX': { description: 'Delivered.' },
            '410': { description: 'The receiver dropped this user: the registration is removed.' },
            default: {
              description:
                '408, 429 (Retry-After is honoured), 5xx, timeouts and connection errors are retried with backoff until CALLBACK_RETRY_DEADLINE_HOURS; other statuses are dropped.',
            },
          },
        },
      },
    },
  };
}

/** Swagger UI at /docs, the OpenAPI document at /docs-json. */
export function setupOpenApi(app: NestFastifyApplication): void {
  const config = new DocumentBuilder()
    .setTitle('Mastodon streaming listener: registration API')
    .setDescription(
      "App servers register a user (access token and callback URL) here; the listener then relays that user's Mastodon notifications to the callback (see the callback of POST /register). Bodies are application/x-www-form-urlencoded or application/json. Every error answer is JSON {statusCode, error, message}. The examples match config/local-trial (CONFIG_DIR=config/local-trial npm start), so that Try it out succeeds locally.",
    )
    .setVersion('2.0.0')
    .addTag('registrations', 'What app servers call: start, renew and stop relaying for a user.')
    .addTag('health', 'Liveness and database reachability, for probes.')
    .build();
  const document = SwaggerModule.createDocument(app, config);
  addCallbackContract(document);
  SwaggerModule.setup(DOCS_PATH, app, document, { jsonDocumentUrl: `${DOCS_PATH}-json` });
}
