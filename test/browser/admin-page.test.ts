// The admin web page in headless Chromium (Debian's /usr/bin/chromium driven
// by playwright-core), against the compiled admin app (dist/, as the gateway
// runs it: the page's files copied there by the build) over a fake backend,
// listening on loopback with a bearer token:
//
//   token prompt (a wrong token is refused) → list with usage bars and states
//   → disable/enable reaches the backend → add a client with a generated key:
//   its config and a QR code of exactly that text → a revoked token brings the
//   prompt back; no console errors; no horizontal scroll at 375 and 1280 px.
//
// Screenshots go to test-artifacts/browser/.

import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import qrcode from 'qrcode-generator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientView } from '../../gateway/admin/backend.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = `${ROOT}test-artifacts/browser/`;
const DIST_SERVER = `${ROOT}dist/gateway/admin/server.js`;
const DIST_FAKE = `${ROOT}dist/gateway/admin/fake-backend.js`;
const DIST_LOG = `${ROOT}dist/shared/log.js`;

const TOKEN = 'mgt_browser-test-token';
const GIB = 2 ** 30;
const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 375, height: 812 },
} as const;
type ViewportName = keyof typeof VIEWPORTS;
/** The page polls every 5 s; a change shows within one poll (plenty of slack for a loaded machine). */
const POLL_WAIT_MS = 15_000;

const skipReason = existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (scripts/setup.sh installs Debian's chromium)`;
if (skipReason) console.warn(`skipping the admin page browser test: ${skipReason}`);

// The callbacks given to evaluate() run in the page: the few browser globals they use
// (this project compiles without the DOM library).
declare const window: {
  innerWidth: number;
  document: { documentElement: { scrollWidth: number } };
  sessionStorage: { getItem(key: string): string | null };
  getComputedStyle(element: unknown): { display: string };
};
interface PageCanvas {
  width: number;
  height: number;
  dataset: { modules?: string };
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
}

type ServerModule = typeof import('../../gateway/admin/server.js');
type FakeModule = typeof import('../../gateway/admin/fake-backend.js');
type LogModule = typeof import('../../shared/log.js');
type Fake = InstanceType<FakeModule['FakeAdminBackend']>;

/** Live rates and a throttled client: what the fake leaves at 0 / ok. */
function withLiveFigures(client: ClientView): ClientView {
  if (client.name === 'alice') return { ...client, rates: { downBps: 12_300_000, upBps: 1_250_000 } };
  if (client.name === 'dave') return { ...client, usage: { ...client.usage, state: 'throttled' } };
  return client;
}

describe.skipIf(skipReason !== null)('admin web page in Chromium', () => {
  let backend: Fake;
  let close: () => Promise<void>;
  let base: string;
  let tokenValid = true;
  let browser: Browser;
  const pages = new Map<ViewportName, Page>();
  const contexts: BrowserContext[] = [];
  const consoleErrors: string[] = [];
  /** Every answer of 400 or more the pages got: "401 GET /api/v1/clients". */
  const failedResponses = new Set<string>();

  beforeAll(async () => {
    if (!existsSync(DIST_SERVER) || !existsSync(DIST_FAKE)) {
      throw new Error(`admin app not built (${DIST_SERVER}): run npm run build`);
    }
    const { buildAdminApp } = (await import(DIST_SERVER)) as ServerModule;
    const { FakeAdminBackend, fakeFileClients } = (await import(DIST_FAKE)) as FakeModule;
    const { createLogger } = (await import(DIST_LOG)) as LogModule;

    backend = new FakeAdminBackend({
      policies: { basic: { weight: 2, quota: 50 * GIB }, small: { weight: 1, quota: 5 * GIB } },
      fileClients: fakeFileClients(1, 'small'),
    });
    backend.createClient({ name: 'alice', generateKey: true, policy: 'basic', notes: 'flat 3, <b>not bold</b>' });
    backend.createClient({ name: 'bob', generateKey: true, policy: 'small' });
    backend.createClient({ name: 'carol', generateKey: true, policy: 'unlimited' });
    backend.createClient({ name: 'dave', generateKey: true, policy: 'basic' });
    backend.addTraffic('alice', 10 * GIB, 2 * GIB);
    backend.addTraffic('bob', 5 * GIB, 1 * GIB);
    backend.addTraffic('carol', 3 * GIB, 1 * GIB);
    backend.addTraffic('dave', 40 * GIB, 5 * GIB);
    backend.addTraffic('file-1', GIB / 2, GIB / 4);
    const list = backend.listClients.bind(backend);
    backend.listClients = () => list().map(withLiveFigures);

    const app = buildAdminApp({
      backend,
      metrics: { render: () => Promise.resolve(''), contentType: 'text/plain' },
      tokens: { verify: (presented) => (tokenValid && presented === TOKEN ? 'browser-test' : null) },
      trusted: false,
      metricsPublic: false,
      log: createLogger('admin-page-test', 'silent'),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    close = () => app.close();

    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    for (const [name, viewport] of Object.entries(VIEWPORTS) as [ViewportName, (typeof VIEWPORTS)[ViewportName]][]) {
      const context = await browser.newContext({ viewport, isMobile: name === 'phone', hasTouch: name === 'phone' });
      contexts.push(context);
      const page = await context.newPage();
      page.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(`${name}: ${message.text()}`);
      });
      page.on('pageerror', (error) => consoleErrors.push(`${name}: ${error.message}`));
      page.on('response', (response) => {
        if (response.status() >= 400) {
          failedResponses.add(
            `${response.status()} ${response.request().method()} ${new URL(response.url()).pathname}`,
          );
        }
      });
      pages.set(name, page);
    }
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await close?.();
  });

  const page = (name: ViewportName) => pages.get(name)!;
  const shot = (name: ViewportName, step: string) =>
    page(name).screenshot({ path: `${ARTIFACTS}${name}-${step}.png`, fullPage: true });
  const row = (p: Page, client: string) => p.locator(`tr[data-client="${client}"]`);

  async function noHorizontalScroll(p: Page): Promise<void> {
    const { scrollWidth, innerWidth } = await p.evaluate(() => ({
      scrollWidth: window.document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
    }));
    expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
  }

  async function signIn(p: Page, token: string): Promise<void> {
    await p.locator('#token').fill(token);
    await p.locator('#login-form button[type=submit]').click();
  }

  it('asks for a token, refuses a wrong one, then lists the clients', async () => {
    for (const name of ['desktop', 'phone'] as const) {
      const p = page(name);
      await p.goto(base);
      await expect.poll(() => p.locator('#login').isVisible()).toBe(true);
      expect(await p.locator('#app').isVisible()).toBe(false);
      await shot(name, '1-sign-in');

      await signIn(p, 'mgt_wrong');
      await expect.poll(() => p.locator('#login-error').textContent()).toContain('refused');
      expect(await p.locator('#login').isVisible()).toBe(true);

      await signIn(p, TOKEN);
      await p.locator('tr[data-client="alice"]').waitFor();
      expect(await p.locator('#login').isVisible()).toBe(false);
      expect(await p.locator('#clients tbody tr').count()).toBe(5);
      expect(await p.locator('#gateway').textContent()).toContain('mgfake0');
    }
  });

  it('shows usage bars against each quota, "unlimited", state badges and live rates', async () => {
    const p = page('desktop');
    const alice = row(p, 'alice');
    expect(await alice.locator('.meter').getAttribute('aria-valuenow')).toBe('24'); // 12 of 50 GiB
    expect(await alice.locator('.usage-text').textContent()).toBe('12.9 GB of 53.7 GB (24%)');
    expect(await alice.locator('.rates').textContent()).toBe('↓ 12.3 Mbit/s / ↑ 1.25 Mbit/s');
    expect(await alice.locator('.badge').textContent()).toBe('ok');
    const fill = await alice.locator('.meter .fill').evaluate((e) => e.getBoundingClientRect().width);
    const track = await alice.locator('.meter').evaluate((e) => e.getBoundingClientRect().width);
    expect(fill / track).toBeCloseTo(0.24, 2);

    expect(await row(p, 'bob').locator('.badge').textContent()).toBe('blocked');
    expect(await row(p, 'bob').locator('.meter').getAttribute('aria-valuenow')).toBe('100');
    expect(await row(p, 'dave').locator('.badge').textContent()).toBe('throttled');
    expect(await row(p, 'carol').locator('.meter').isVisible()).toBe(false);
    expect(await row(p, 'carol').locator('.usage-text').textContent()).toBe('4.29 GB · unlimited');
    expect(await row(p, 'file-1').locator('.policy').textContent()).toBe('small (file)');
    // Notes are text, never markup.
    expect(await alice.locator('.notes').textContent()).toBe('flat 3, <b>not bold</b>');
    expect(await alice.locator('.notes b').count()).toBe(0);
  });

  it('lays out as a table on a desktop and as cards on a phone, without horizontal scroll', async () => {
    const desktop = page('desktop');
    const phone = page('phone');
    expect(await row(desktop, 'alice').evaluate((e) => window.getComputedStyle(e).display)).toBe('table-row');
    expect(await row(phone, 'alice').evaluate((e) => window.getComputedStyle(e).display)).toBe('block');
    expect(await phone.locator('#clients thead').isVisible()).toBe(false);
    for (const name of ['desktop', 'phone'] as const) {
      await noHorizontalScroll(page(name));
      await shot(name, '2-clients');
    }
  });

  it('disables and enables a client: the backend sees each switch', async () => {
    const p = page('desktop');
    const toggle = row(p, 'alice').locator('.switch input');
    expect(await toggle.isChecked()).toBe(true);
    await row(p, 'alice').locator('.switch').click();
    await expect.poll(() => backend.getClient('alice').enabled).toBe(false);
    await expect.poll(() => row(p, 'alice').getAttribute('class')).toContain('disabled');
    expect(await toggle.isChecked()).toBe(false);

    // The phone sees it on its next poll, and switches it back.
    const phoneRow = row(page('phone'), 'alice');
    await expect.poll(() => phoneRow.locator('.switch input').isChecked(), { timeout: POLL_WAIT_MS }).toBe(false);
    await phoneRow.locator('.switch').tap();
    await expect.poll(() => backend.getClient('alice').enabled).toBe(true);

    // A file client may be disabled too (the API allows only that).
    await row(p, 'file-1').locator('.switch').click();
    await expect.poll(() => backend.getClient('file-1').enabled).toBe(false);
  });

  it('adds a client with a generated key and shows its config once, with a QR code of that config', async () => {
    for (const [name, client] of [
      ['desktop', 'laptop'],
      ['phone', 'phone'],
    ] as const) {
      const p = page(name);
      await p.locator('#add-open').click();
      await p.locator('#add-dialog').waitFor();
      const policies = await p.locator('#add-policy option').allTextContents();
      expect(policies).toEqual(['unlimited', 'basic', 'small']);
      await p.locator('#add-name').fill(client);
      await p.locator('#add-policy').selectOption('small');
      await noHorizontalScroll(p);
      await shot(name, '3-add-client');
      await p.locator('#add-form button[type=submit]').click();
      await p.locator('#config-dialog').waitFor();

      const config = (await p.locator('#config-text').textContent())!;
      const privateKey = backend.secrets.at(-2)!; // this client's key pair, then its preshared key
      expect(config).toContain(`PrivateKey = ${privateKey}`);
      expect(config).toContain(`PublicKey = ${backend.gatewayPublicKey}`);
      expect(backend.getClient(client).policy).toBe('small');

      // The canvas holds the QR code of exactly this text, module by module.
      const drawn = await p.locator('#config-qr').evaluate((element, margin: number) => {
        const canvas = element as unknown as PageCanvas;
        const modules = Number(canvas.dataset.modules);
        const cell = canvas.width / (modules + 2 * margin);
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let bits = '';
        for (let r = 0; r < modules; r++) {
          for (let c = 0; c < modules; c++) {
            const x = Math.floor((c + margin + 0.5) * cell);
            const y = Math.floor((r + margin + 0.5) * cell);
            bits += pixels[(y * canvas.width + x) * 4]! < 128 ? '1' : '0';
          }
        }
        return { modules, bits };
      }, 4);
      const qr = qrcode(0, 'L');
      qr.addData(config, 'Byte');
      qr.make();
      expect(drawn.modules).toBe(qr.getModuleCount());
      let want = '';
      for (let r = 0; r < drawn.modules; r++) {
        for (let c = 0; c < drawn.modules; c++) want += qr.isDark(r, c) ? '1' : '0';
      }
      expect(drawn.bits).toBe(want);

      await noHorizontalScroll(p);
      await shot(name, '4-new-client-config');

      // Done: the private key leaves the page.
      await p.locator('#config-done').click();
      await expect.poll(() => p.locator('#config-dialog').isVisible()).toBe(false);
      expect(await p.locator('#config-text').textContent()).toBe('');
      expect(await p.content()).not.toContain(privateKey);
      await row(p, client).waitFor();
    }
  });

  it('shows the API error of a refused client in the form', async () => {
    const p = page('desktop');
    await p.locator('#add-open').click();
    await p.locator('#add-name').fill('alice');
    await p.locator('#add-form button[type=submit]').click();
    await expect.poll(() => p.locator('#add-error').textContent()).toContain('a client has this name');
    expect(await p.locator('#add-dialog').isVisible()).toBe(true);
    await p.locator('#add-cancel').click();
  });

  it('looks tidy after the changes (screenshots)', async () => {
    for (const name of ['desktop', 'phone'] as const) {
      await expect.poll(() => page(name).locator('#clients tbody tr').count(), { timeout: POLL_WAIT_MS }).toBe(7);
      await noHorizontalScroll(page(name));
      await shot(name, '5-after');
    }
  });

  it('brings the token prompt back when the token is refused (401)', async () => {
    tokenValid = false;
    for (const name of ['desktop', 'phone'] as const) {
      const p = page(name);
      await expect.poll(() => p.locator('#login').isVisible(), { timeout: POLL_WAIT_MS }).toBe(true);
      expect(await p.locator('#app').isVisible()).toBe(false);
      expect(await p.locator('#login-error').textContent()).toContain('refused');
      expect(await p.evaluate(() => window.sessionStorage.getItem('meshgate.token'))).toBeNull();
      await shot(name, '6-token-refused');
    }
    tokenValid = true;
  });

  it('logged no console errors; the only failed requests were the refused token and the duplicate', () => {
    // Chromium logs each answer of 400 or more as a console error; those are checked by URL.
    expect([...failedResponses].sort()).toEqual([
      '401 GET /api/v1/clients',
      '401 GET /api/v1/status',
      '409 POST /api/v1/clients',
    ]);
    const unexpected = consoleErrors.filter((e) => !/Failed to load resource: .* status of (401|409) /.test(e));
    expect(unexpected).toEqual([]);
  });
});
