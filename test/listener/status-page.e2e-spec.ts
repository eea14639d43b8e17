import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { waitFor } from '../support/wait-for';
import { ListenerHarness } from './listener-harness';
import { chromiumPath, describeWithTool } from '../required-tool';

const ADMIN_TOKEN = `admin-${randomBytes(12).toString('hex')}`;
const SCREENSHOTS = path.join(os.tmpdir(), 'msl-screenshots');

describe('status page: access', () => {
  let h: ListenerHarness;

  beforeAll(async () => {
    h = await ListenerHarness.start({ instances: { alpha: { version: '4.3.0' } }, listenerEnv: { ADMIN_TOKEN } });
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
});

describeWithTool('chromium', chromiumPath() !== undefined)('status page in a real browser', () => {
  let h: ListenerHarness;
  let browser: Browser;
  const token = `tok_${randomBytes(8).toString('hex')}`;

  beforeAll(async () => {
    h = await ListenerHarness.start({ instances: { alpha: { version: '4.3.0', record: true }, beta: { version: '4.3.0' } } });
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-gpu'] });
    h.fake('alpha').addToken(token);
    h.receiver.script('/cb/broken-receiver', [], { status: 503 });
    await h.registered({ instance: 'alpha', tag: 'broken-receiver', token });
    // tokens the instances know: an unknown one would be refused and its registration removed
    h.fake('alpha').addToken(`${token}-quiet`);
    h.fake('beta').addToken(`${token}-other`);
    await h.registered({ instance: 'alpha', tag: 'quiet-user', token: `${token}-quiet` });
    await h.registered({ instance: 'beta', tag: 'other-user', token: `${token}-other` });
    await h.fake('alpha').waitForConnection((c) => c.token === token);
    h.fake('alpha').emit(token, { event: 'notification', payload: JSON.stringify({ id: '7' }) });
    await waitFor(async () => {
      const status = (await (await fetch(`${h.listenerUrl}/status.json`)).json()) as { retryQueue: { depth: number } };
      return status.retryQueue.depth > 0;
    }, { what: 'the failing callback in the retry queue' });
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await h?.stop();
  });

  it('shows the cluster at 1280 px: counts, the failing registration with its error, instances', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${h.listenerUrl}/status`);
    expect(await page.title()).toBe('Relay status');
    expect(await page.locator('[data-card="registrations"] b').textContent()).toBe('3');
    expect(Number(await page.locator('[data-card="retry queue"] b').textContent())).toBeGreaterThanOrEqual(1);
    const failing = page.locator('table').first();
    const row = failing.locator('tr', { hasText: 'broken-receiver' });
    await expect(row.textContent()).resolves.toContain('HTTP 503');
    await expect(row.textContent()).resolves.toContain('https://alpha.test');
    const instances = page.locator('h2:has-text("Registrations by instance") + div table');
    expect(await instances.locator('tbody tr').allTextContents()).toEqual(['https://alpha.test2', 'https://beta.test1']);
    expect(await page.locator('meta[http-equiv="refresh"]').getAttribute('content')).toBe('10');
    // each registration's first open took its catch-up floor (the newest notification id)
    const catchUp = page.locator('h2:has-text("Catch-up after gaps") + div table');
    expect(await catchUp.locator('tbody tr', { hasText: 'floor' }).count()).toBe(1);
    expect(await page.locator('p.later').textContent()).toContain('Not recorded by this database yet');
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
