import pino from 'pino';
import { Writable } from 'node:stream';
import { pathForLog, REDACTED_LOG_PATHS, urlForLog } from './redaction';

describe('urlForLog', () => {
  it('keeps origin and path, drops query string, fragment and credentials', () => {
    expect(urlForLog('https://user:pass@cb.example:8443/hook/1?access_token=secret#frag')).toBe(
      'https://cb.example:8443/hook/1',
    );
    expect(urlForLog('http://cb.example')).toBe('http://cb.example/');
  });

  it('says an invalid URL is one, without echoing it', () => {
    expect(urlForLog('not a url ?token=secret')).toBe('[invalid url]');
  });
});

describe('REDACTED_LOG_PATHS', () => {
  it('removes tokens, secrets and Authorization headers from pino lines, at top level and one level down', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = pino({ redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' } }, sink);
    logger.info({
      req: {
        headers: { authorization: 'Bearer tok-a', cookie: 'session=tok-b' },
        body: { access_token: 'tok-c', app_secret: 'sec-d' },
      },
      headers: { authorization: 'Bearer tok-e', Authorization: 'Bearer tok-f' },
      accessToken: 'tok-g',
      access_token: 'tok-h',
      appSecret: 'sec-i',
      app_secret: 'sec-j',
      secret: 'sec-k',
      webhookSecret: 'sec-l',
      password: 'pw-m',
      registration: {
        accessToken: 'tok-n',
        access_token: 'tok-o',
        appSecret: 'sec-p',
        app_secret: 'sec-q',
        secret: 'sec-r',
        webhookSecret: 'sec-s',
        password: 'pw-t',
        authorization: 'Bearer tok-u',
        Authorization: 'Bearer tok-v',
      },
      kept: 'visible',
    });
    const [line] = lines;
    expect(line).toContain('"kept":"visible"');
    for (const secret of 'abcdefghijklmnopqrstuv'.split(''))
      expect(line).not.toMatch(new RegExp(`-${secret}"`));
  });
});

describe('pathForLog', () => {
  it('drops the query and the Web Push id', () => {
    expect(pathForLog('/push/abcDEF_-123?x=1')).toBe('/push/[redacted]');
    expect(pathForLog('/register?token=x')).toBe('/register');
    expect(pathForLog('/pushy/abc')).toBe('/pushy/abc');
  });
});
