import { subscribeForm } from './mastodon-push.client';

describe('subscribeForm', () => {
  it("is the form Mastodon's push subscription API reads", () => {
    const form = new URLSearchParams(
      subscribeForm({ endpoint: 'https://relay.example/push/abc', p256dh: 'P', auth: 'A', standard: true, alerts: ['mention', 'follow'] }),
    );
    expect([...form]).toEqual([
      ['subscription[endpoint]', 'https://relay.example/push/abc'],
      ['subscription[keys][p256dh]', 'P'],
      ['subscription[keys][auth]', 'A'],
      ['subscription[standard]', 'true'],
      ['data[policy]', 'all'],
      ['data[alerts][mention]', 'true'],
      ['data[alerts][follow]', 'true'],
    ]);
  });

  it('leaves out subscription[standard] for instances before 4.4', () => {
    const form = new URLSearchParams(subscribeForm({ endpoint: 'e', p256dh: 'P', auth: 'A', standard: false, alerts: [] }));
    expect(form.has('subscription[standard]')).toBe(false);
  });
});
