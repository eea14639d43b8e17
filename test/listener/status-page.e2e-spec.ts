import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { waitFor } from '../support/wait-for';
import { APP_ID, APP_SECRET, ListenerHarness } from './listener-harness';
import { chromiumPath, describeWithTool } from '../required-tool';

const ADMIN_TOKEN = `admin-${randomBytes(12).toString('hex')}`;
const SCREENSHOTS = path.join(os.tmpdir(), 'msl-screenshots');

describe('status page: access', () => {
  let h: ListenerHarness;

  beforeAll(async () => {
    // a short node timeout, so that a killed listener is judged dead soon (the rule is the membership's)
    h = await ListenerHarness.start({
      instances: { alpha: { version: '4.3.0' } },
      listenerEnv: { ADMIN_TOKEN, LISTENER_NODE_TIMEOUT_MS: '3000' },
    });
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('asks for ADMIN_TOKEN when it is set, by header or query, and never logs it', async () => {
    expect((await fetch(`${h.listenerUrl}/status`)).status).toBe(401);
    expect((await fetch(`${h.listenerUrl}/status.json`, { headers: { Authorization: 'Bearer wrong-token-000000' } })).status).toBe(401);
    const byHeader = await fetch(`${h.listenerUrl}/status.json`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(byHeader.status).toBe(200);
    expect(await byHeader.json()).toMatchObject({ registrations: { total: 0 }, retryQueue: { depth: 0 } });
    const byQuery = await fetch(`${h.listenerUrl}/status?token=${ADMIN_TOKEN}`);
    expect(byQuery.status).toBe(200);
    expect(byQuery.headers.get('content-type')).toContain('text/html');
    expect(byQuery.headers.get('referrer-policy')).toBe('no-referrer');
    await waitFor(() => h.listener.logs.includes('GET /status 200'), { what: 'the request line' });
    expect(h.listener.logs).not.toContain(ADMIN_TOKEN);
  });
  it('lists every listener of the cluster from the database: a second one alive, then dead once killed', async () => {
    type Listener = { id: string; liveness: string };
    const listeners = async (): Promise<Listener[]> => {
      const response = await fetch(`${h.listenerUrl}/status.json`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
      return ((await response.json()) as { listeners: Listener[] }).listeners;
    };
    const second = await h.addListener({ ADMIN_TOKEN, LISTENER_NODE_TIMEOUT_MS: '3000' });
    const ofSecond = (all: Listener[]) => all.find((l) => l.id.includes(`-${second.pid}-`));
    const alive = (all: Listener[]) => all.filter((l) => l.liveness === 'alive').length;
    await waitFor(
      async () => {
        const all = await listeners();
        return ofSecond(all)?.liveness === 'alive' && alive(all) === 2;
      },
      { what: 'both listeners alive on the first one’s page' },
    );
    await second.stop('SIGKILL');
    await waitFor(
      async () => {
        const all = await listeners();
        return ofSecond(all)?.liveness === 'dead' && alive(all) === 1;
      },
      { what: 'the killed listener judged dead, the other still alive' },
    );
  });
});

describeWithTool('chromium', chromiumPath() !== undefined)('status page in a real browser', () => {
  let h: ListenerHarness;
  let browser: Browser;
  const token = `tok_${randomBytes(8).toString('hex')}`;

  beforeAll(async () => {
    h = await ListenerHarness.start({
      instances: { alpha: { version: '4.3.0', record: true }, beta: { version: '4.3.0' } },
      // the page is checked for streams that stay open: no ping timeout on a loaded machine drops one meanwhile
      listenerEnv: { STREAM_PING_INTERVAL_MS: '60000' },
    });
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-gpu'] });
    h.fake('alpha').addToken(token);
    h.receiver.script('/cb/broken-receiver', [], { status: 503 });
    await h.registered({ instance: 'alpha', tag: 'broken-receiver', token });
    // tokens the instances know: an unknown one would be refused and its registration removed
    h.fake('alpha').addToken(`${token}-quiet`);
    h.fake('alpha').addToken(`${token}-revoked`);
    h.fake('beta').addToken(`${token}-other`);
    await h.registered({ instance: 'alpha', tag: 'quiet-user', token: `${token}-quiet` });
    await h.registered({ instance: 'alpha', tag: 'revoked-user', token: `${token}-revoked` });
    await h.registered({ instance: 'beta', tag: 'other-user', token: `${token}-other` });
    await h.fake('alpha').waitForConnection((c) => c.token === token);
    await h.fake('alpha').waitForConnection((c) => c.token === `${token}-revoked`);
    await h.fake('beta').waitForConnection((c) => c.token === `${token}-other`);
    h.fake('alpha').emit(token, { event: 'notification', payload: JSON.stringify({ id: '7' }) });
    // a revoked token ends its registration (kept as removed, reason revoked); an instance down keeps its stream retrying
    h.fake('alpha').revokeToken(`${token}-revoked`);
    h.fake('alpha').closeWithoutCode(`${token}-revoked`);
    h.fake('beta').beginOutage(503);
    await waitFor(async () => {
      const status = (await (await fetch(`${h.listenerUrl}/status.json`)).json()) as {
        retryQueue: { depth: number };
        removedByReason: { key: string; count: number }[];
        failingStreams: { tag: string; lastError: string | null }[];
        listeners: { streamsOpen: number }[];
        registrations: { byState: { key: string; count: number }[] };
      };
      return (
        status.registrations.byState.some((c) => c.key === 'streaming' && c.count === 2) &&
        status.retryQueue.depth > 0 &&
        status.removedByReason.some((r) => r.key === 'revoked') &&
        status.failingStreams.some((f) => f.tag === 'other-user' && f.lastError !== null) &&
        status.listeners.length === 1 &&
        status.listeners[0].streamsOpen === 2
      );
    }, { what: 'the failing callback queued, the revoked registration removed, the stream of beta retrying, the heartbeat' });
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await h?.stop();
  });

  it('shows the cluster at 1280 px: listeners, failing streams and callbacks with their errors, states by instance, removals', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${h.listenerUrl}/status`);
    expect(await page.title()).toBe('Relay status');
    const cells = (row: ReturnType<typeof page.locator>) => row.locator('td').allTextContents();
    // the removed registration is kept, so that its app server can ask why
    expect(await page.locator('[data-card="registrations"] b').textContent()).toBe('4');
    expect(await page.locator('[data-card="streaming"] b').textContent()).toBe('2');
    expect(await page.locator('[data-card="failing streams"] b').textContent()).toBe('1');
    expect(await page.locator('[data-card="listeners"] b').textContent()).toBe('1');
    expect(Number(await page.locator('[data-card="retry queue"] b').textContent())).toBeGreaterThanOrEqual(1);

    // this one listener, alive, with the streams it reported at its last heartbeat
    const listeners = page.locator('#listeners tbody tr');
    expect(await listeners.count()).toBe(1);
    const listener = await cells(listeners.first());
    expect(listener[0]).toMatch(new RegExp(`-${h.listener.pid}-[0-9a-f]+ \\(this one\\)$`));
    expect(listener.slice(1, 2)).toEqual(['alive']);
    expect(listener[2]).toMatch(/^\d+ s ago$/);
    expect(listener[3]).toBe('2');

    const stream = page.locator('#failing-streams tbody tr', { hasText: 'other-user' });
    const streamCells = await cells(stream);
    expect(streamCells.slice(1, 5)).toEqual(['https://beta.test', APP_ID, 'other-user', 'retrying']);
    expect(streamCells[7]).toMatch(/stream (closed with code 1006|failed to open)/);
    expect(await page.locator('#failing-streams tbody tr').count()).toBe(1);

    const callback = page.locator('#failing-callbacks tbody tr', { hasText: 'broken-receiver' });
    await expect(callback.textContent()).resolves.toContain('HTTP 503');
    await expect(callback.textContent()).resolves.toContain('https://alpha.test');

    // one column per state some registration is in, in the lifecycle's order
    expect(await page.locator('#by-instance thead th').allTextContents()).toEqual(['instance', 'registrations', 'streaming', 'retrying', 'removed']);
    expect(await cells(page.locator('#by-instance tbody tr').nth(0))).toEqual(['https://alpha.test', '3', '2', '0', '1']);
    expect(await cells(page.locator('#by-instance tbody tr').nth(1))).toEqual(['https://beta.test', '1', '0', '1', '0']);
    expect(await page.locator('#by-state tbody tr').allTextContents()).toEqual(['streaming2', 'retrying1', 'removed1']);
    expect(await page.locator('#removals tbody tr').allTextContents()).toEqual(['revoked1']);

    expect(await page.locator('meta[http-equiv="refresh"]').getAttribute('content')).toBe('10');
    // each registration's first open took its catch-up floor (the newest notification id); counted by this listener
    expect(await page.locator('#catch-up h2').textContent()).toContain('this listener only');
    expect(await page.locator('#catch-up tbody tr', { hasText: 'floor' }).count()).toBe(1);
    const html = await page.content();
    for (const secret of [token, `${token}-quiet`, `${token}-revoked`, `${token}-other`, APP_SECRET]) expect(html).not.toContain(secret);
    const file = path.join(SCREENSHOTS, 'status-page-1280.png');
    await page.screenshot({ path: file, fullPage: true });
    process.stdout.write(`status page screenshot (1280 px): ${file}\n`);
    await page.close();
  });

  it('fits a phone: nothing wider than the screen but the tables, which scroll', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await page.goto(`${h.listenerUrl}/status`);
    // evaluated in the page (a string: this project's types have no DOM)
    const widths = await page.evaluate<{ page: number; screen: number }>(
      '({ page: document.documentElement.scrollWidth, screen: window.innerWidth })',
    );
    expect(widths.page).toBeLessThanOrEqual(widths.screen);
    expect(await page.locator('[data-card="registrations"]').isVisible()).toBe(true);
    expect(await page.locator('tr', { hasText: 'broken-receiver' }).count()).toBe(1);
    const file = path.join(SCREENSHOTS, 'status-page-phone.png');
    await page.screenshot({ path: file, fullPage: true });
    process.stdout.write(`status page screenshot (phone, 390 px): ${file}\n`);
    await page.close();
  });
});
