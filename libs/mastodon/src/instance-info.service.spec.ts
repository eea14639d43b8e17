import { HttpService } from '@nestjs/axios';
import { AxiosError, AxiosHeaders, AxiosRequestConfig, AxiosResponse } from 'axios';
import { Observable, of, throwError } from 'rxjs';
import { Settings } from '@app/config';
import { AddressGuardService, RefusedAddressError } from './address-guard.service';
import { InstanceInfoError, InstanceInfoService, parseInstanceInfo } from './instance-info.service';
import { strictStub } from '../../../test/support/strict-stub';

const settings = { listener: { instanceInfoTtlMs: 60_000 } } as Settings;

function ok(body: unknown): Observable<AxiosResponse<string>> {
  return of({
    data: typeof body === 'string' ? body : JSON.stringify(body),
    status: 200,
    statusText: 'OK',
    headers: {},
    config: { headers: new AxiosHeaders() },
  });
}

function httpError(status?: number, code?: string): Observable<never> {
  const config = { headers: new AxiosHeaders() };
  const response =
    status === undefined
      ? undefined
      : ({ status, data: '', statusText: '', headers: {}, config } as AxiosResponse);
  return throwError(() => new AxiosError('request failed', code, config, undefined, response));
}

describe('parseInstanceInfo', () => {
  it('keeps the version and a valid streaming_api, ignoring everything else', () => {
    expect(
      parseInstanceInfo({
        version: ' 4.3.0 ',
        urls: { streaming_api: 'wss://streaming.example' },
        title: 'x',
      }),
    ).toEqual({
      version: '4.3.0',
      streamingApi: 'wss://streaming.example',
    });
    expect(
      parseInstanceInfo('{"version":"1.4.1","urls":{"streaming_api":"javascript:alert(1)"}}'),
    ).toEqual({ version: '1.4.1' });
    expect(parseInstanceInfo({ version: '4.0.0', urls: 'nope' })).toEqual({ version: '4.0.0' });
  });

  it.each([
    ['not json', 'answer is not JSON'],
    ['[1]', 'answer is not a JSON object'],
    ['{"urls":{}}', 'answer has no usable version'],
    ['{"version":4}', 'answer has no usable version'],
    [JSON.stringify({ version: 'v'.repeat(201) }), 'answer has no usable version'],
  ])('refuses %s', (body, message) => {
    expect(() => parseInstanceInfo(body)).toThrow(new InstanceInfoError(message));
  });
});

describe('InstanceInfoService', () => {
  let get: jest.Mock<Observable<AxiosResponse<string>>, [string, AxiosRequestConfig]>;
  let assertPublic: jest.Mock<Promise<void>, [URL, string]>;
  let service: InstanceInfoService;

  beforeEach(() => {
    get = jest.fn();
    assertPublic = jest.fn().mockResolvedValue(undefined);
    service = new InstanceInfoService(
      strictStub<HttpService>('HttpService', { get: get as unknown as HttpService['get'] }),
      strictStub<AddressGuardService>('AddressGuardService', { assertPublic }),
      settings,
    );
  });

  it('asks once for many concurrent callers of one instance, then answers from the cache', async () => {
    get.mockReturnValue(ok({ version: '4.3.0' }));
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => service.get('https://one.example', { guard: false })),
    );
    expect(answers.every((a) => a.version === '4.3.0')).toBe(true);
    await service.get('https://one.example', { guard: false });
    expect(get).toHaveBeenCalledTimes(1);
    expect(get.mock.calls[0][0]).toBe('https://one.example/api/v1/instance');
    expect(get.mock.calls[0][1]).toMatchObject({
      timeout: 10_000,
      maxContentLength: 1_048_576,
      maxRedirects: 3,
      lookup: undefined,
    });
    expect(assertPublic).not.toHaveBeenCalled();
  });

  it('checks the address before asking when the base came from outside, and guards the socket', async () => {
    const order: string[] = [];
    assertPublic.mockImplementation(async () => {
      order.push('check');
    });
    get.mockImplementation(() => {
      order.push('get');
      return ok({ version: '4.3.0' });
    });
    await service.get('https://two.example', { guard: true });
    expect(order).toEqual(['check', 'get']);
    expect(assertPublic.mock.calls[0][0].href).toBe('https://two.example/api/v1/instance');
    expect(typeof get.mock.calls[0][1].lookup).toBe('function');
  });

  it('does not ask an instance whose address is refused', async () => {
    assertPublic.mockRejectedValue(
      new RefusedAddressError(
        'instance URL',
        'resolves to a loopback, private or link-local address',
      ),
    );
    await expect(service.get('https://private.example', { guard: true })).rejects.toBeInstanceOf(
      RefusedAddressError,
    );
    expect(get).not.toHaveBeenCalled();
  });

  it.each([
    [httpError(503), 'answered HTTP 503'],
    [httpError(undefined, AxiosError.ECONNABORTED), 'no answer within 10000 ms'],
    [httpError(undefined, 'ECONNREFUSED'), 'request failed (ECONNREFUSED)'],
    [ok('<html>'), 'answer is not JSON'],
  ])('describes a failure without guessing (%#)', async (answer, message) => {
    get.mockReturnValue(answer);
    await expect(service.get('https://three.example', { guard: false })).rejects.toThrow(
      new InstanceInfoError(message),
    );
  });

  it('remembers a failure briefly, then asks again', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      get.mockReturnValueOnce(httpError(500)).mockReturnValueOnce(ok({ version: '4.1.0' }));
      await expect(service.get('https://four.example', { guard: false })).rejects.toThrow(
        'answered HTTP 500',
      );
      await expect(service.get('https://four.example', { guard: false })).rejects.toThrow(
        'answered HTTP 500',
      );
      expect(get).toHaveBeenCalledTimes(1);
      jest.setSystemTime(1_000_000 + 5_001);
      await expect(service.get('https://four.example', { guard: false })).resolves.toEqual({
        version: '4.1.0',
      });
      expect(get).toHaveBeenCalledTimes(2);
      jest.setSystemTime(1_000_000 + 5_001 + 60_001);
      get.mockReturnValueOnce(ok({ version: '4.2.0' }));
      await expect(service.get('https://four.example', { guard: false })).resolves.toEqual({
        version: '4.2.0',
      });
    } finally {
      jest.useRealTimers();
    }
  });

  it('refuses a redirect to a private address or to plain text', async () => {
    get.mockReturnValue(ok({ version: '4.3.0' }));
    await service.get('https://five.example', { guard: true });
    const beforeRedirect = get.mock.calls[0][1].beforeRedirect as (
      options: Record<string, unknown>,
    ) => void;
    expect(() => beforeRedirect({ href: 'https://127.0.0.1/api/v1/instance' })).toThrow(
      'private or link-local',
    );
    expect(() => beforeRedirect({ href: 'http://five.example/api/v1/instance' })).toThrow(
      'plain-text',
    );
    expect(() =>
      beforeRedirect({ href: 'https://www.five.example/api/v1/instance' }),
    ).not.toThrow();
  });
});
