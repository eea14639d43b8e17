import {
  buildStreamingUrl,
  chooseStreamingBase,
  instanceInfoUrl,
  isStreamingBaseUrl,
} from './streaming-url';

describe('streaming URLs', () => {
  it('prefers replaceUrl, then the announced streaming_api, then the instance URL', () => {
    expect(
      chooseStreamingBase({
        replaceUrl: 'http://10.0.0.2:4000',
        streamingApi: 'wss://s.example',
        instanceUrl: 'https://i.example',
      }),
    ).toEqual({
      base: 'http://10.0.0.2:4000',
      source: 'replaceUrl',
    });
    expect(
      chooseStreamingBase({ streamingApi: 'wss://s.example', instanceUrl: 'https://i.example' }),
    ).toEqual({
      base: 'wss://s.example',
      source: 'streaming_api',
    });
    expect(chooseStreamingBase({ instanceUrl: 'https://i.example' })).toEqual({
      base: 'https://i.example',
      source: 'instance',
    });
  });

  it.each([
    [
      'https://mastodon.example',
      'user:notification',
      'wss://mastodon.example/api/v1/streaming?stream=user%3Anotification',
    ],
    ['http://10.0.0.2:4000/', 'user', 'ws://10.0.0.2:4000/api/v1/streaming?stream=user'],
    ['wss://streaming.example', 'direct', 'wss://streaming.example/api/v1/streaming?stream=direct'],
    ['ws://host/prefix/', 'user', 'ws://host/prefix/api/v1/streaming?stream=user'],
    ['wss://host/api/v1/streaming', 'user', 'wss://host/api/v1/streaming?stream=user'],
    ['https://host/?access_token=leak#frag', 'user', 'wss://host/api/v1/streaming?stream=user'],
  ] as const)('builds %s + %s', (base, endpoint, expected) => {
    expect(buildStreamingUrl(base, endpoint).href).toBe(expected);
  });

  it('refuses a base that is not http(s) or ws(s)', () => {
    expect(() => buildStreamingUrl('ftp://host', 'user')).toThrow('not an http(s) or ws(s) URL');
    expect(isStreamingBaseUrl('javascript:alert(1)')).toBe(false);
    expect(isStreamingBaseUrl('https://user:pass@host')).toBe(false);
    expect(isStreamingBaseUrl(42)).toBe(false);
    expect(isStreamingBaseUrl('wss://ok.example')).toBe(true);
  });

  it('puts /api/v1/instance under the web base', () => {
    expect(instanceInfoUrl('http://10.0.0.2:3000/')).toBe('http://10.0.0.2:3000/api/v1/instance');
  });
});
