import { AddressGuardService, RefusedAddressError } from './address-guard.service';
import { InstanceInfoError, InstanceInfoService } from './instance-info.service';
import { chooseEndpoint, StreamTargetError, StreamTargetService } from './stream-target.service';
import { strictStub } from '../../../test/support/strict-stub';

describe('chooseEndpoint', () => {
  it('takes the registration’s endpoint, then the configured one, then decides by version', () => {
    expect(chooseEndpoint('direct', 'user', '4.3.0')).toBe('direct');
    expect(chooseEndpoint(null, 'user', '4.3.0')).toBe('user');
    expect(chooseEndpoint(null, undefined, '4.3.0')).toBe('user:notification');
    expect(chooseEndpoint(null, undefined, '1.4.2')).toBe('user:notification');
    expect(chooseEndpoint(null, undefined, '1.4.1')).toBe('user');
    expect(chooseEndpoint(null, undefined, '1.4rc1')).toBe('user');
    expect(chooseEndpoint(null, undefined, undefined)).toBe('user');
  });
});

describe('StreamTargetService', () => {
  let info: jest.Mock;
  let check: jest.Mock;
  let service: StreamTargetService;

  beforeEach(() => {
    info = jest.fn();
    check = jest.fn();
    service = new StreamTargetService(
      strictStub<InstanceInfoService>('InstanceInfoService', { get: info }),
      strictStub<AddressGuardService>('AddressGuardService', { check }),
    );
  });

  it('needs nothing from the instance when replaceUrl and an endpoint are known, and checks no address', async () => {
    const target = await service.resolve({
      instanceUrl: 'https://m.example',
      endpoint: 'direct',
      instance: { replaceUrl: 'http://10.0.0.2:4000' },
    });
    expect(target).toEqual({
      url: new URL('ws://10.0.0.2:4000/api/v1/streaming?stream=direct'),
      endpoint: 'direct',
      guard: false,
    });
    expect(info).not.toHaveBeenCalled();
    expect(check).not.toHaveBeenCalled();
  });

  it('asks replaceUrlWeb (unguarded) for the version when the endpoint is not known', async () => {
    info.mockResolvedValue({ version: '1.4.1' });
    const target = await service.resolve({
      instanceUrl: 'https://m.example',
      endpoint: null,
      instance: { replaceUrl: 'http://10.0.0.2:4000', replaceUrlWeb: 'http://10.0.0.2:3000' },
    });
    expect(info).toHaveBeenCalledWith('http://10.0.0.2:3000', { guard: false });
    expect(target.endpoint).toBe('user');
  });

  it('connects to the announced streaming_api after checking its address', async () => {
    info.mockResolvedValue({ version: '4.3.0', streamingApi: 'wss://streaming.m.example' });
    check.mockResolvedValue({ ok: true, addresses: ['93.184.216.34'] });
    const target = await service.resolve({
      instanceUrl: 'https://m.example',
      endpoint: null,
      instance: {},
    });
    expect(info).toHaveBeenCalledWith('https://m.example', { guard: true });
    expect(check.mock.calls[0][0].href).toBe(
      'wss://streaming.m.example/api/v1/streaming?stream=user%3Anotification',
    );
    expect(target).toMatchObject({ endpoint: 'user:notification', guard: true });
  });

  it('refuses a private streaming address unless the operator allows it', async () => {
    info.mockResolvedValue({ version: '4.3.0', streamingApi: 'ws://127.0.0.1:4000' });
    check.mockResolvedValue({
      ok: false,
      reason: 'resolves to a loopback, private or link-local address',
    });
    await expect(
      service.resolve({ instanceUrl: 'https://m.example', endpoint: null, instance: {} }),
    ).rejects.toMatchObject({
      reason: 'refused_address',
    });
    const allowed = await service.resolve({
      instanceUrl: 'https://m.example',
      endpoint: null,
      instance: { allowPrivateAddress: true },
    });
    expect(allowed.guard).toBe(false);
    expect(info).toHaveBeenLastCalledWith('https://m.example', { guard: false });
    expect(check).toHaveBeenCalledTimes(1);
  });

  it('reports instance info failures and refused instance addresses by reason', async () => {
    info.mockRejectedValueOnce(new InstanceInfoError('answered HTTP 502'));
    const failure = service.resolve({
      instanceUrl: 'https://m.example',
      endpoint: null,
      instance: {},
    });
    await expect(failure).rejects.toBeInstanceOf(StreamTargetError);
    await expect(failure).rejects.toMatchObject({
      reason: 'instance_info',
      message: 'instance info unavailable: answered HTTP 502',
    });
    info.mockRejectedValueOnce(
      new RefusedAddressError(
        'instance URL',
        'resolves to a loopback, private or link-local address',
      ),
    );
    await expect(
      service.resolve({ instanceUrl: 'https://m.example', endpoint: null, instance: {} }),
    ).rejects.toMatchObject({
      reason: 'refused_address',
    });
  });
});
