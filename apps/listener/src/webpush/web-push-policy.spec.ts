import { asksStandard, chooseTransport } from './web-push-policy';

describe('chooseTransport', () => {
  const URL = 'https://relay.example';
  const registration = { transport: null, endpoint: null };

  it("takes the registration's transport, else the instance's, else the stream", () => {
    expect(chooseTransport({ ...registration, transport: 'webpush' }, {}, undefined, URL)).toEqual({ transport: 'webpush' });
    expect(chooseTransport(registration, { transport: 'webpush' }, undefined, URL)).toEqual({ transport: 'webpush' });
    expect(chooseTransport({ ...registration, transport: 'stream' }, { transport: 'webpush' }, undefined, URL)).toEqual({ transport: 'stream' });
    expect(chooseTransport(registration, {}, undefined, URL)).toEqual({ transport: 'stream' });
  });

  it('keeps the stream, saying why, without PUBLIC_URL, for the direct stream, and for an app without notification', () => {
    const webpush = { ...registration, transport: 'webpush' as const };
    expect(chooseTransport(webpush, {}, undefined, undefined)).toMatchObject({ transport: 'stream', instead: expect.stringContaining('PUBLIC_URL') });
    expect(chooseTransport({ ...webpush, endpoint: 'direct' }, {}, undefined, URL)).toMatchObject({ instead: expect.stringContaining('direct') });
    expect(chooseTransport(webpush, { endpoint: 'direct' }, undefined, URL)).toMatchObject({ transport: 'stream' });
    expect(chooseTransport(webpush, {}, { events: ['conversation'] }, URL)).toMatchObject({ instead: expect.stringContaining('notifications only') });
    expect(chooseTransport(webpush, {}, { events: ['notification'] }, URL)).toEqual({ transport: 'webpush' });
  });
});

describe('asksStandard', () => {
  it('asks for aes128gcm from Mastodon 4.4 on', () => {
    expect(asksStandard('4.4.0')).toBe(true);
    expect(asksStandard('4.5.1+glitch')).toBe(true);
    expect(asksStandard('4.3.9')).toBe(false);
    expect(asksStandard('garbage')).toBe(false);
  });
});
