import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { AppProcess, freePort } from '../support/app-process';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { allRegistrationRows } from './support/registration-table';

const ROOT = path.resolve(__dirname, '../..');
const run = promisify(execFile);

/** The commands of README's "Trying the API locally" curl block, continuation lines joined. */
function readmeCurlCommands(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Trying the API locally'));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]);
  const curlBlock = blocks.find((block) => block.includes('curl '));
  if (!curlBlock) throw new Error('README has no curl block under "Trying the API locally"');
  return curlBlock
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((line) => line.startsWith('curl '));
}

/**
 * Validates with @apidevtools/swagger-parser in a Node process of its own: the
 * validator's dependencies are ES modules, which Node loads and Jest's module system does not.
 */
function validateOpenApi(document: unknown): Promise<{ code: number | null; output: string }> {
  const script =
    "require('@apidevtools/swagger-parser').validate(JSON.parse(require('fs').readFileSync(0, 'utf8')))" +
    ".then(() => process.stdout.write('valid'), (e) => { process.stdout.write(e.message); process.exit(1); })";
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
    child.stdin.end(JSON.stringify(document));
  });
}

interface OpenApiDocument {
  tags: { name: string; description?: string }[];
  paths: Record<
    string,
    Record<
      string,
      {
        tags?: string[];
        responses: Record<string, { content?: Record<string, { example?: unknown }> }>;
        callbacks?: Record<
          string,
          Record<string, { post: { parameters: { name: string }[]; requestBody: unknown } }>
        >;
      }
    >
  >;
  components: { schemas: Record<string, { properties: Record<string, { example?: unknown }> }> };
}

describe('the local trial: README curl examples and the OpenAPI document', () => {
  let db: TestDatabase;
  let api: AppProcess;
  let port: number;

  beforeAll(async () => {
    db = await createTestDatabase();
    port = await freePort();
    api = await AppProcess.start('api', {
      ...db.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      CONFIG_DIR: path.join(ROOT, 'config/local-trial'),
    });
  });

  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  const rows = async () =>
    (await allRegistrationRows(db.dataSource)).map(({ tag, callbackUrl, endpoint }) => ({
      tag,
      callbackUrl,
      endpoint,
    }));

  it('answers every curl command of the README (202, /status 200), and they do what they say', async () => {
    const commands = readmeCurlCommands();
    expect(commands).toHaveLength(4);
    const statuses: string[] = [];
    for (const [index, command] of commands.entries()) {
      const local = command.replace('http://127.0.0.1:4002/', `http://127.0.0.1:${port}/`);
      const { stdout } = await run('bash', ['-c', local]);
      statuses.push(/^HTTP\/1\.1 (\d{3})/.exec(stdout)?.[1] ?? stdout);
      if (index === 1) {
        expect(await rows()).toEqual([
          {
            tag: 'user-42-device-7',
            callbackUrl: 'http://127.0.0.1:8080/callback',
            endpoint: 'user:notification',
          },
        ]);
      }
    }
    expect(statuses).toEqual(['202', '202', '200', '202']);
    expect(await rows()).toEqual([]);
  });

  it('serves a document that a real OpenAPI validator accepts', async () => {
    const document = (await (await fetch(`http://127.0.0.1:${port}/docs-json`)).json()) as object;
    expect(await validateOpenApi(document)).toEqual({ code: 0, output: 'valid' });
    // the validator does refuse a broken document
    expect((await validateOpenApi({ ...document, info: {} })).code).toBe(1);
  });

  it('documents the callback, one example per error status and the tags, with Try it out examples that succeed', async () => {
    const document = (await (
      await fetch(`http://127.0.0.1:${port}/docs-json`)
    ).json()) as OpenApiDocument;
    const register = document.paths['/register'].post;

    const examples = ['400', '401', '403', '413', '415', '503'].map((status) => {
      const example = register.responses[status].content?.['application/json']?.example as {
        statusCode: number;
        message: string;
      };
      expect(example.statusCode).toBe(Number(status));
      return example.message;
    });
    expect(new Set(examples).size).toBe(examples.length);

    const callback = Object.values(register.callbacks!.relayedEvent)[0].post;
    expect(callback.parameters.map((p) => p.name)).toEqual([
      'webhook-id',
      'webhook-timestamp',
      'webhook-signature',
    ]);
    expect(Object.keys(document.components.schemas.CallbackBody.properties)).toEqual([
      'instanceUrl',
      'tag',
      'appId',
      'event',
      'payload',
    ]);

    for (const tag of document.tags) expect(tag.description).toEqual(expect.any(String));
    expect(document.tags.map((t) => t.name).sort()).toEqual(['health', 'registrations', 'webpush']);

    // what Try it out sends: every property's example
    const body = (schema: string) =>
      Object.fromEntries(
        Object.entries(document.components.schemas[schema].properties).map(([name, property]) => [
          name,
          property.example,
        ]),
      );
    const send = (route: string, fields: object) =>
      fetch(`http://127.0.0.1:${port}${route}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(fields),
      }).then((r) => r.status);
    expect(await send('/register', body('RegisterDto'))).toBe(202);
    expect(await send('/unregister', body('UnregisterDto'))).toBe(202);
  });
});
