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

/**
 * POST /push/<id>, where instances send the Web Pushes of registrations with
 * transport `webpush`. Served by a Fastify route of its own (binary bodies),
 * so it is described here rather than by a controller.
 */
function addPushEndpoint(document: OpenAPIObject): void {
  const header = (name: string, description: string) => ({
    name,
    in: 'header' as const,
    required: false,
    description,
    schema: { type: 'string' as const },
  });
  const error = (description: string) => ({
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorResponseDto' } } },
  });
  document.paths['/push/{id}'] = {
    post: {
      tags: ['webpush'],
      summary: 'A Web Push from a Mastodon instance (not called by app servers)',
      description:
        "The endpoint this server gives an instance in POST /api/v1/push/subscription for a registration with transport `webpush`: " +
        '`{PUBLIC_URL}/push/<id>`, the id 256 random bits. The body is decrypted with the registration\'s keys (RFC 8291 aes128gcm, ' +
        "or the older aesgcm with Encryption and Crypto-Key), the VAPID credentials checked against the instance's server_key " +
        '(RFC 8292: `vapid t=<jwt>, k=<key>`, or `WebPush <jwt>` with Crypto-Key p256ecdsa), the notification_id stored, ' +
        'and only then is the answer 201; the listener fetches GET /api/v1/notifications/<id> and relays it to the callback. ' +
        'At most PUSH_MAX_BYTES. Instances delete a subscription on a 4xx other than 408 and 429, so each answer is chosen.',
      parameters: [
        { name: 'id', in: 'path', required: true, description: "The subscription's push id.", schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' } },
        header('Authorization', 'VAPID credentials: `vapid t=<jwt>, k=<key>` or `WebPush <jwt>`.'),
        header('Content-Encoding', '`aes128gcm` or `aesgcm`.'),
        header('Crypto-Key', 'aesgcm: `dh=<sender key>`, and `p256ecdsa=<VAPID key>` with the WebPush scheme.'),
        header('Encryption', 'aesgcm: `salt=<salt>`.'),
      ],
      requestBody: {
        required: true,
        content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
      },
      responses: {
        '201': { description: 'Stored durably (or stored already: a replay is answered alike and relayed once).' },
        '400': error('Not decryptable with this subscription\'s keys, or no usable notification_id: nothing is relayed.'),
        '403': error("VAPID credentials missing, expired, for another audience, or not the instance's server_key: nothing is relayed."),
        '404': error('No such subscription (the instance drops it).'),
        '410': error('The registration ended or fell back to its stream (the instance drops the subscription).'),
        '413': error('Larger than PUSH_MAX_BYTES.'),
        '503': error('The database is unavailable, or the subscription is not stored yet: the instance retries (Retry-After).'),
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
    .addTag('webpush', 'Where Mastodon instances push, for registrations with transport webpush.')
    .build();
  const document = SwaggerModule.createDocument(app, config);
  addCallbackContract(document);
  addPushEndpoint(document);
  SwaggerModule.setup(DOCS_PATH, app, document, { jsonDocumentUrl: `${DOCS_PATH}-json` });
}
