import { CallbackHostRecovery } from './callback-host-recovery';

describe('CallbackHostRecovery', () => {
  it('hands back every registration that waited on a host when the host answers, once', () => {
    const hosts = new CallbackHostRecovery();
    hosts.failed(1, 'https://a.example/cb/1');
    hosts.failed(2, 'https://a.example/cb/2?x=1');
    hosts.failed(3, 'https://b.example/cb');
    expect(hosts.answered('https://a.example/other').sort()).toEqual([1, 2]);
    expect(hosts.answered('https://a.example/other')).toEqual([]);
    expect(hosts.size).toBe(1);
    expect(hosts.answered('https://b.example/cb')).toEqual([3]);
  });

  it('tells hosts apart by scheme, name and port', () => {
    const hosts = new CallbackHostRecovery();
    hosts.failed(1, 'https://a.example/cb');
    expect(hosts.answered('http://a.example/cb')).toEqual([]);
    expect(hosts.answered('https://a.example:8443/cb')).toEqual([]);
    expect(hosts.answered('https://a.example:443/cb')).toEqual([1]);
  });

  it('follows a registration whose callback moved to another host, and forgets removed ones', () => {
    const hosts = new CallbackHostRecovery();
    hosts.failed(1, 'https://a.example/cb');
    hosts.failed(1, 'https://b.example/cb');
    hosts.failed(2, 'https://b.example/cb');
    expect(hosts.answered('https://a.example/cb')).toEqual([]);
    hosts.forget(2);
    expect(hosts.answered('https://b.example/cb')).toEqual([1]);
    expect(hosts.size).toBe(0);
  });

  it('ignores URLs it cannot read', () => {
    const hosts = new CallbackHostRecovery();
    hosts.failed(1, 'not a url');
    expect(hosts.size).toBe(0);
    hosts.failed(2, 'https://a.example/cb');
    expect(hosts.answered('not a url')).toEqual([]);
  });
});
