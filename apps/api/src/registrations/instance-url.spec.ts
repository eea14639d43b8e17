import { checkInstanceUrl, normalizeInstanceUrl } from './instance-url';

describe('checkInstanceUrl', () => {
  it.each([
    ['https://mastodon.example', 'https://mastodon.example'],
    ['https://mastodon.example/', 'https://mastodon.example'],
    ['HTTPS://Mastodon.EXAMPLE/', 'https://mastodon.example'],
    ['http://mastodon.example:8080', 'http://mastodon.example:8080'],
    ['https://mastodon.example:443', 'https://mastodon.example'],
    ['http://127.0.0.1:3000/', 'http://127.0.0.1:3000'],
    ['http://[::1]:3000', 'http://[::1]:3000'],
    ['https://日本.example', 'https://xn--wgv71a.example'],
    // 255 bytes: the longest origin stored
    [`https://${'a'.repeat(239)}.example`, `https://${'a'.repeat(239)}.example`],
  ])('accepts %s as %s', (raw, normalized) => {
    expect(checkInstanceUrl(raw)).toEqual({ ok: true, url: normalized });
    expect(normalizeInstanceUrl(raw)).toBe(normalized);
  });

  it.each([
    ['mastodon.example', 'must be an http:// or https:// origin'],
    ['https://', 'must be an http:// or https:// origin'],
    ['ftp://mastodon.example', 'must be an http:// or https:// origin'],
    ['javascript:alert(1)', 'must be an http:// or https:// origin'],
    ['https://user:pass@mastodon.example', 'must not contain credentials'],
    ['https://user@mastodon.example', 'must not contain credentials'],
    ['https://:pass@mastodon.example', 'must not contain credentials'],
    // 256 bytes as an origin: one more than a stored instance URL may hold
    [`https://${'a'.repeat(240)}.example`, 'must be at most 255 bytes (UTF-8)'],
    ['https://mastodon.example/path', 'must be an origin without path, query or fragment'],
    ['https://mastodon.example//', 'must be an origin without path, query or fragment'],
    ['https://mastodon.example?', 'must be an origin without path, query or fragment'],
    ['https://mastodon.example/?a=1', 'must be an origin without path, query or fragment'],
    ['https://mastodon.example#top', 'must be an origin without path, query or fragment'],
  ])('refuses %s', (raw, reason) => {
    const check = checkInstanceUrl(raw);
    expect(check.ok).toBe(false);
    expect(check.ok ? '' : check.reason).toContain(reason);
    expect(() => normalizeInstanceUrl(raw)).toThrow(/^instance_url /);
  });
});
