import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

export const DOCS_PATH = 'docs';

/** Swagger UI at /docs, the OpenAPI document at /docs-json. */
export function setupOpenApi(app: NestFastifyApplication): void {
  const config = new DocumentBuilder()
    .setTitle('Mastodon streaming listener: registration API')
    .setDescription(
      "App servers register a user (access token and callback URL) here; the listener then relays that user's Mastodon notifications to the callback. Bodies are application/x-www-form-urlencoded or application/json. Every error answer is JSON {statusCode, error, message}.",
    )
    .setVersion('2.0.0')
    .build();
  const document = SwaggerModule.createDocument(app, config);
  SwaggerModule.setup(DOCS_PATH, app, document, { jsonDocumentUrl: `${DOCS_PATH}-json` });
}
