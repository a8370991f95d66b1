import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, WEB_DIR, registerWeb } from './web.js';

describe('admin web page routes', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = Fastify();
    registerWeb(app);
    await app.ready();
  });
  afterAll(() => app.close());

  it.each([
    ['/', 'text/html; charset=utf-8', 'index.html'],
    ['/ui/index.html', 'text/html; charset=utf-8', 'index.html'],
    ['/ui/app.js', 'text/javascript; charset=utf-8', 'app.js'],
    ['/ui/style.css', 'text/css; charset=utf-8', 'style.css'],
  ])('serves %s as %s with the strict headers', async (url, type, file) => {
    const response = await app.inject({ method: 'GET', url });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe(type);
    expect(response.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.body).toBe(readFileSync(join(WEB_DIR, file), 'utf8'));
  });

  it('serves the QR encoder module from its npm package, license header kept', async () => {
    const response = await app.inject({ method: 'GET', url: '/ui/qrcode.mjs' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(response.body).toContain('Licensed under the MIT license');
    expect(response.body).toContain('export default qrcode');
  });

  it('allows nothing inline and nothing from elsewhere', () => {
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'self'");
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-|\*|https?:|data:/);
  });

  it.each([
    '/ui/',
    '/ui/web.ts',
    '/ui/..%2Fweb.ts',
    '/ui/..%2F..%2F..%2Fpackage.json',
    '/ui/%2e%2e%2fserver.ts',
    '/ui/../web.ts',
    '/ui/./app.js/',
    '/ui/app.js%00',
    '/ui/APP.JS',
    '/ui/web/app.js',
    '/web/app.js',
    '/index.html',
  ])('refuses %s: only the fixed table of files is served', async (url) => {
    const response = await app.inject({ method: 'GET', url });
    expect(response.statusCode).toBe(404);
    expect(response.body).not.toContain('import ');
  });

  it('links only files it serves, from this origin, with no inline script or style', async () => {
    const html = readFileSync(join(WEB_DIR, 'index.html'), 'utf8');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=|\son[a-z]+=/i);
    const links = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) {
      expect(link).toMatch(/^\/ui\//);
      expect((await app.inject({ method: 'GET', url: link })).statusCode).toBe(200);
    }
  });

  it('puts data into the page as text only', () => {
    const script = readFileSync(join(WEB_DIR, 'app.js'), 'utf8');
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
  });
});
