import { createFastifyAdapter } from './fastify-adapter';

describe('createFastifyAdapter', () => {
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  async function answer(headers: Record<string, string> = {}, bodyLimit?: number, body?: string) {
    const adapter = createFastifyAdapter(bodyLimit);
    const fastify = adapter.getInstance();
    let seenId: string | undefined;
    fastify.post('/echo', async (request) => {
      seenId = request.id;
      return 'ok';
    });
    fastify.get('/echo', async (request) => {
      seenId = request.id;
      return 'ok';
    });
    const response = await fastify.inject({
      method: body === undefined ? 'GET' : 'POST',
      url: '/echo',
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'text/plain' }) },
      payload: body,
    });
    await fastify.close();
    return { response, seenId };
  }

  it('gives each request a UUID as its id and echoes it', async () => {
    const first = await answer();
    const second = await answer();
    expect(first.seenId).toMatch(UUID);
    expect(first.response.headers['x-request-id']).toBe(first.seenId);
    expect(second.seenId).not.toBe(first.seenId);
  });

  it('keeps an incoming x-request-id of a sane shape', async () => {
    const { response, seenId } = await answer({ 'x-request-id': 'req_2024.11-22' });
    expect(seenId).toBe('req_2024.11-22');
    expect(response.headers['x-request-id']).toBe('req_2024.11-22');
    expect((await answer({ 'x-request-id': 'a'.repeat(64) })).seenId).toBe('a'.repeat(64));
  });

  it.each(['a'.repeat(65), 'has space', 'semi;colon', 'x\u00e9', ''])(
    'replaces an incoming x-request-id %j with its own',
    async (incoming) => {
      const { response, seenId } = await answer({ 'x-request-id': incoming });
      expect(seenId).toMatch(UUID);
      expect(response.headers['x-request-id']).toBe(seenId);
    },
  );

  it('refuses a body over the limit', async () => {
    expect((await answer({}, 10, 'x'.repeat(11))).response.statusCode).toBe(413);
    expect((await answer({}, 10, 'x'.repeat(10))).response.statusCode).toBe(200);
  });
});
