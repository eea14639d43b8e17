import { StreamEndpoint } from '@app/config';

const STREAMING_PATH = '/api/v1/streaming';

/** Whether `text` is an absolute http(s) or ws(s) URL, the forms a streaming base may take. */
export function isStreamingBaseUrl(text: unknown): text is string {
  if (typeof text !== 'string' || text.length > 2048) return false;
  try {
    const url = new URL(text);
    return (
      ['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol) &&
      url.hostname !== '' &&
      !url.username &&
      !url.password
    );
  } catch {
    return false;
  }
}

/**
 * The streaming base in order of precedence: the operator's `replaceUrl`, the
 * `urls.streaming_api` the instance announces, the instance URL itself.
 */
export function chooseStreamingBase(options: {
  replaceUrl?: string;
  streamingApi?: string;
  instanceUrl: string;
}): {
  base: string;
  source: 'replaceUrl' | 'streaming_api' | 'instance';
} {
  if (options.replaceUrl) return { base: options.replaceUrl, source: 'replaceUrl' };
  if (options.streamingApi) return { base: options.streamingApi, source: 'streaming_api' };
  return { base: options.instanceUrl, source: 'instance' };
}

/**
 * `{base}/api/v1/streaming?stream=<endpoint>` with ws:/wss: for http:/https:.
 * A path on the base is kept (a streaming server behind a prefix); its query
 * and fragment are dropped. The access token never goes in this URL.
 */
export function buildStreamingUrl(base: string, endpoint: StreamEndpoint): URL {
  if (!isStreamingBaseUrl(base)) throw new Error('streaming base is not an http(s) or ws(s) URL');
  const url = new URL(base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  const prefix = url.pathname.replace(/\/+$/, '');
  url.pathname = prefix.endsWith(STREAMING_PATH) ? prefix : `${prefix}${STREAMING_PATH}`;
  url.search = new URLSearchParams({ stream: endpoint }).toString();
  url.hash = '';
  return url;
}

/** The REST base for `/api/v1/instance`: the operator's `replaceUrlWeb`, else the instance URL. */
export function instanceInfoUrl(webBase: string): string {
  return `${webBase.replace(/\/+$/, '')}/api/v1/instance`;
}
