import { WebSocket } from 'ws';
import { DemoInstance } from './demo-instance';

describe('DemoInstance', () => {
  let instance: DemoInstance;
  const token = 'demo-token';

  beforeEach(async () => {
    instance = await DemoInstance.start(token);
  });

  afterEach(async () => {
    await instance.stop();
  });

  const ids = async (query: string, bearer = token): Promise<string[] | number> => {
    const response = await fetch(`${instance.url}/api/v1/notifications${query}`, {
      headers: { Authorization: `Bearer ${bearer}` },
    });
    if (response.status !== 200) return response.status;
    return ((await response.json()) as { id: string }[]).map((n) => n.id);
  };

  it('pages notifications newest first as Mastodon does, for its token only', async () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => instance.notify(name).id);
    expect(await ids('?limit=1')).toEqual([d]);
    expect(await ids('')).toEqual([d, c, b, a]);
    expect(await ids(`?max_id=${c}`)).toEqual([b, a]);
    expect(await ids(`?since_id=${a}&limit=2`)).toEqual([d, c]);
    expect(await ids(`?min_id=${a}&limit=2`)).toEqual([c, b]);
    expect(await ids('?limit=1', 'other')).toBe(401);
  });

  it('announces its streaming API and sends notifications on an open stream', async () => {
    const info = (await (await fetch(`${instance.url}/api/v1/instance`)).json()) as { urls: { streaming_api: string } };
    const socket = new WebSocket(`${info.urls.streaming_api}/api/v1/streaming?stream=user:notification`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    const frame = new Promise<string>((resolve) => socket.once('message', (data: Buffer) => resolve(data.toString())));
    expect(await instance.waitForStream()).toBe('user:notification');
    const sent = instance.notify('alice');
    expect(JSON.parse(await frame)).toEqual({
      stream: ['user:notification'],
      event: 'notification',
      payload: JSON.stringify(sent),
    });
    socket.close();
  });

  it('refuses a stream without its token', async () => {
    const socket = new WebSocket(`${instance.url.replace('http', 'ws')}/api/v1/streaming?stream=user`, {
      headers: { Authorization: 'Bearer wrong' },
    });
    const status = await new Promise<number>((resolve) =>
      socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
    );
    expect(status).toBe(401);
  });
});
