// The admin API through fastify's inject(), against the in-memory backend:
// every route's happy path and shape, schema failures naming their field,
// coded backend refusals, auth, concurrent updates, the OpenAPI document, and
// a scan of every response body and log line for private keys and tokens.

import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { AdminError, type AdminBackend, type ClientView } from './backend.js';
import { FakeAdminBackend, fakeFileClients, freshPublicKey } from './fake-backend.js';
import { API_PREFIX, BODY_LIMIT, buildAdminApp, type AdminAppOptions } from './server.js';

const TOKEN = 'mgt_' + 'A'.repeat(43);
const OTHER_TOKEN = 'mgt_' + 'B'.repeat(43);
const METRICS_TEXT = '# TYPE meshgate_info gauge\nmeshgate_info{version="0.1.0"} 1\n';
const METRICS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const NOW = Date.UTC(2026, 11, 2, 12, 0, 0);

/** Every response body and log line of this file, for the secret scan at the end. */
const seen: { what: string; text: string; generatedConfig: boolean }[] = [];
const backends: FakeAdminBackend[] = [];

interface Setup {
  app: FastifyInstance;
  backend: FakeAdminBackend;
  tokens: Map<string, string>;
  logs: string[];
  call: (method: string, url: string, options?: CallOptions) => Promise<LightMyRequestResponse>;
}

interface CallOptions {
  body?: unknown;
  /** Raw payload (bad JSON, huge bodies); sent as JSON unless headers say otherwise. */
  payload?: string;
  /** Default: TOKEN on the untrusted app; null sends no Authorization header. */
  token?: string | null;
  headers?: Record<string, string>;
}

function setup(
  over: Partial<AdminAppOptions> & { backendOptions?: ConstructorParameters<typeof FakeAdminBackend>[0] } = {},
): Setup {
  const backend = new FakeAdminBackend({ fileClients: fakeFileClients(2), now: () => NOW, ...over.backendOptions });
  backends.push(backend);
  const tokens = new Map([[TOKEN, 'admin']]);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString());
      seen.push({ what: 'log', text: chunk.toString(), generatedConfig: false });
      done();
    },
  });
  const app = buildAdminApp({
    backend,
    metrics: { render: async () => METRICS_TEXT, contentType: METRICS_TYPE },
    tokens: { verify: (presented) => tokens.get(presented) ?? null },
    trusted: false,
    metricsPublic: false,
    log: pino({ level: 'debug' }, sink),
    now: () => NOW,
    ...over,
  });
  const call = async (method: string, url: string, options: CallOptions = {}) => {
    const token = options.token === undefined ? TOKEN : options.token;
    const headers: Record<string, string> = { ...(token === null ? {} : { authorization: `Bearer ${token}` }) };
    let payload: string | undefined;
    if (options.body !== undefined || options.payload !== undefined) {
      headers['content-type'] = 'application/json';
      payload = options.payload ?? JSON.stringify(options.body);
    }
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: { ...headers, ...options.headers },
      ...(payload === undefined ? {} : { payload }),
    });
    const generatedConfig = res.statusCode === 201 && (options.body as { generateKey?: boolean })?.generateKey === true;
    seen.push({ what: `${method} ${url} → ${res.statusCode}`, text: res.body, generatedConfig });
    return res;
  };
  return { app, backend, tokens, logs, call };
}

const v1 = (path: string) => API_PREFIX + path;
const errorOf = (res: LightMyRequestResponse) =>
  res.json<{ error: { code: string; message: string; field?: string } }>();

function expectError(res: LightMyRequestResponse, status: number, code: string, field?: string): void {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = errorOf(res);
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  if (field === undefined) expect(body.error).not.toHaveProperty('field');
  else expect(body.error.field).toBe(field);
}

function expectClientShape(c: ClientView): void {
  expect(Object.keys(c).sort()).toEqual(
    [
      'createdAt',
      'enabled',
      'endpoint',
      'lastHandshake',
      'lease',
      'name',
      'notes',
      'origin',
      'policy',
      'publicKey',
      'rates',
      'transfer',
      'usage',
      'weight',
    ].sort(),
  );
  expect(c.publicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  expect(Object.keys(c.usage).sort()).toEqual(
    [
      'download',
      'drops',
      'limits',
      'name',
      'periodEnd',
      'periodStart',
      'policy',
      'publicKey',
      'quota',
      'state',
      'upload',
      'used',
    ].sort(),
  );
}

describe('admin API routes', () => {
  let s: Setup;
  beforeEach(() => {
    s = setup();
  });

  it('GET /clients lists every client with the full view', async () => {
    const res = await s.call('GET', v1('/clients'));
    expect(res.statusCode).toBe(200);
    const { clients } = res.json<{ clients: ClientView[] }>();
    expect(clients.map((c) => c.name)).toEqual(['file-1', 'file-2']);
    for (const c of clients) expectClientShape(c);
    expect(clients[0]!.origin).toBe('file');
    expect(clients[0]!.createdAt).toBeNull();
  });

  it('POST /clients with a public key: 201, the client, no config', async () => {
    const publicKey = freshPublicKey();
    const res = await s.call('POST', v1('/clients'), {
      body: { name: 'flat-3b', publicKey, policy: 'basic', weight: 5, notes: 'third floor' },
    });
    expect(res.statusCode, res.body).toBe(201);
    const { client, config } = res.json<{ client: ClientView; config: string | null }>();
    expect(config).toBeNull();
    expectClientShape(client);
    expect(client).toMatchObject({
      name: 'flat-3b',
      publicKey,
      origin: 'api',
      enabled: true,
      policy: 'basic',
      weight: 5,
      notes: 'third floor',
    });
    expect(client.createdAt).toBe(new Date(NOW).toISOString());
    expect((await s.call('GET', v1('/clients/flat-3b'))).json<ClientView>().publicKey).toBe(publicKey);
  });

  it('POST /clients with generateKey: the config with its private key once, never again', async () => {
    const res = await s.call('POST', v1('/clients'), { body: { name: 'phone', generateKey: true } });
    expect(res.statusCode, res.body).toBe(201);
    const { client, config } = res.json<{ client: ClientView; config: string }>();
    const [privateKey] = s.backend.secrets;
    expect(config).toContain(`PrivateKey = ${privateKey}`);
    expect(client.policy).toBe('unlimited');
    const exported = await s.call('GET', v1('/clients/phone/config'));
    expect(exported.statusCode).toBe(200);
    const body = exported.json<{ name: string; config: string }>();
    expect(body.name).toBe('phone');
    expect(body.config).toContain("# PrivateKey = <the client's private key>");
    expect(body.config).not.toContain(privateKey);
    expect(body.config).toContain(`PublicKey = ${s.backend.gatewayPublicKey}`);
  });

  it('GET /clients/:name, PATCH every field, disable and enable', async () => {
    await s.call('POST', v1('/clients'), { body: { name: 'a', publicKey: freshPublicKey() } });
    const got = await s.call('GET', v1('/clients/a'));
    expect(got.statusCode).toBe(200);
    expectClientShape(got.json());
    const patched = await s.call('PATCH', v1('/clients/a'), {
      body: { name: 'b', policy: 'small', weight: 7, notes: 'n', enabled: false },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ name: 'b', policy: 'small', weight: 7, notes: 'n', enabled: false });
    expectError(await s.call('GET', v1('/clients/a')), 404, 'not-found', 'name');
    // weight null: back to the policy's
    expect((await s.call('PATCH', v1('/clients/b'), { body: { weight: null } })).json<ClientView>().weight).toBe(1);
    const enabled = await s.call('POST', v1('/clients/b/enable'));
    expect(enabled.statusCode).toBe(200);
    expect(enabled.json<ClientView>().enabled).toBe(true);
    const disabled = await s.call('POST', v1('/clients/b/disable'));
    expect(disabled.json<ClientView>().enabled).toBe(false);
    // File clients may be disabled and enabled.
    expect((await s.call('POST', v1('/clients/file-1/disable'))).json<ClientView>().enabled).toBe(false);
    expect((await s.call('PATCH', v1('/clients/file-1'), { body: { enabled: true } })).statusCode).toBe(200);
  });

  it('DELETE /clients/:name: 204, gone; its lease stays until DELETE /leases/:publicKey', async () => {
    const publicKey = freshPublicKey();
    await s.call('POST', v1('/clients'), { body: { name: 'gone', publicKey } });
    const res = await s.call('DELETE', v1('/clients/gone'));
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expectError(await s.call('GET', v1('/clients/gone')), 404, 'not-found', 'name');
    const leases = (await s.call('GET', v1('/leases'))).json<{
      leases: { publicKey: string; name: string | null }[];
    }>();
    expect(leases.leases.find((l) => l.publicKey === publicKey)).toMatchObject({ name: null, configured: false });
    const released = await s.call('DELETE', v1(`/leases/${encodeURIComponent(publicKey)}`));
    expect(released.statusCode, released.body).toBe(204);
    expectError(await s.call('DELETE', v1(`/leases/${encodeURIComponent(publicKey)}`)), 404, 'not-found', 'publicKey');
  });

  it('DELETE /leases/:publicKey takes a URL-encoded key with + and /', async () => {
    let publicKey = freshPublicKey();
    while (!publicKey.includes('/') || !publicKey.includes('+')) publicKey = freshPublicKey();
    await s.call('POST', v1('/clients'), { body: { name: 'slashed', publicKey } });
    expectError(await s.call('DELETE', v1(`/leases/${encodeURIComponent(publicKey)}`)), 409, 'in-use', 'publicKey');
    await s.call('DELETE', v1('/clients/slashed'));
    expect((await s.call('DELETE', v1(`/leases/${encodeURIComponent(publicKey)}`))).statusCode).toBe(204);
  });

  it('GET /leases has every lease in its shape; a configured one cannot be released (409 in-use)', async () => {
    const res = await s.call('GET', v1('/leases'));
    expect(res.statusCode).toBe(200);
    const { leases } = res.json<{ leases: Record<string, unknown>[] }>();
    expect(leases).toHaveLength(2);
    for (const l of leases) {
      expect(Object.keys(l).sort()).toEqual(['assignedAt', 'configured', 'ipv4', 'ipv6', 'name', 'publicKey']);
    }
    const key = encodeURIComponent(leases[0]!.publicKey as string);
    expectError(await s.call('DELETE', v1(`/leases/${key}`)), 409, 'in-use', 'publicKey');
    expectError(await s.call('DELETE', v1('/leases/not-a-key')), 400, 'bad-request', 'publicKey');
  });

  it('GET /clients/:name/usage, GET /usage, GET /status, GET /policies', async () => {
    s.backend.addTraffic('file-1', 5000, 2000);
    const usage = await s.call('GET', v1('/clients/file-1/usage'));
    expect(usage.statusCode).toBe(200);
    const u = usage.json<{ current: { download: { bytes: number } }; history: Record<string, unknown>[] }>();
    expect(u.current.download.bytes).toBe(5000);
    expect(Object.keys(u.history[0]!).sort()).toEqual(
      ['downBytes', 'downPackets', 'periodEnd', 'periodStart', 'publicKey', 'upBytes', 'upPackets', 'updatedAt'].sort(),
    );
    const report = await s.call('GET', v1('/usage'));
    expect(report.json()).toMatchObject({ at: new Date(NOW).toISOString() });
    expect(report.json<{ clients: { name: string }[] }>().clients.map((c) => c.name)).toEqual(['file-1', 'file-2']);
    const status = await s.call('GET', v1('/status'));
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({
      interface: 'mgfake0',
      clients: { total: 2, enabled: 2 },
      uplink: { up: true },
    });
    expect((await s.call('GET', v1('/policies'))).json()).toEqual({ policies: ['unlimited', 'basic', 'small'] });
  });

  it('GET /metrics is the metrics text with its content type; GET / is the web page', async () => {
    const res = await s.call('GET', '/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(METRICS_TYPE);
    expect(res.body).toBe(METRICS_TEXT);
    const page = await s.call('GET', '/', { token: null });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
  });

  it('/api/openapi.json is an OpenAPI 3 document listing every route', async () => {
    const res = await s.call('GET', '/api/openapi.json');
    expect(res.statusCode).toBe(200);
    const doc = res.json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>();
    expect(doc.openapi).toMatch(/^3\./);
    const routes = Object.entries(doc.paths)
      .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(routes).toEqual(
      [
        'GET /api/v1/clients',
        'POST /api/v1/clients',
        'GET /api/v1/clients/{name}',
        'PATCH /api/v1/clients/{name}',
        'DELETE /api/v1/clients/{name}',
        'GET /api/v1/clients/{name}/config',
        'POST /api/v1/clients/{name}/disable',
        'POST /api/v1/clients/{name}/enable',
        'GET /api/v1/clients/{name}/usage',
        'GET /api/v1/leases',
        'DELETE /api/v1/leases/{publicKey}',
        'GET /api/v1/usage',
        'GET /api/v1/status',
        'GET /api/v1/policies',
      ].sort(),
    );
    // The create body is documented with its fields and refuses others.
    const create = doc.paths['/api/v1/clients']!.post as {
      requestBody: { content: { 'application/json': { schema: { additionalProperties: boolean } } } };
    };
    expect(create.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
  });
});

describe('admin API refusals', () => {
  let s: Setup;
  beforeEach(() => {
    s = setup();
  });

  it.each([
    ['a weight given as text', { name: 'x', publicKey: 'K', weight: '5' }, 'weight'],
    ['a weight out of range', { name: 'x', generateKey: true, weight: 0 }, 'weight'],
    ['a weight with a fraction', { name: 'x', generateKey: true, weight: 1.5 }, 'weight'],
    ['enabled as text', { name: 'x', generateKey: true, enabled: 'yes' }, 'enabled'],
    ['a name as a number', { name: 5, generateKey: true }, 'name'],
    ['no name', { generateKey: true }, 'name'],
    ['a name with a slash', { name: 'a/b', generateKey: true }, 'name'],
    ['a name too long', { name: 'n'.repeat(33), generateKey: true }, 'name'],
    ['an unknown field', { name: 'x', generateKey: true, privateKey: 'x' }, 'privateKey'],
    ['a malformed key', { name: 'x', publicKey: 'not a key' }, 'publicKey'],
    ['notes too long', { name: 'x', generateKey: true, notes: 'n'.repeat(1025) }, 'notes'],
  ])('POST /clients with %s: 400 bad-request naming the field', async (_what, body, field) => {
    const b = { ...body } as Record<string, unknown>;
    if (b.publicKey === 'K') b.publicKey = freshPublicKey();
    expectError(await s.call('POST', v1('/clients'), { body: b }), 400, 'bad-request', field);
    expect(s.backend.listClients()).toHaveLength(2);
  });

  it('PATCH with an empty body, an unknown field or a wrong type: 400 naming the field', async () => {
    expectError(await s.call('PATCH', v1('/clients/file-1'), { body: {} }), 400, 'bad-request');
    expectError(
      await s.call('PATCH', v1('/clients/file-1'), { body: { colour: 'red' } }),
      400,
      'bad-request',
      'colour',
    );
    expectError(await s.call('PATCH', v1('/clients/file-1'), { body: { enabled: 1 } }), 400, 'bad-request', 'enabled');
    expectError(await s.call('PATCH', v1('/clients/file-1'), { body: [] }), 400, 'bad-request');
    expectError(await s.call('PATCH', v1('/clients/file-1'), { body: 'text' }), 400, 'bad-request');
  });

  it('bad JSON, no body, a huge body, a body that is not JSON: 4xx bad-request, nothing echoed', async () => {
    const key = freshPublicKey();
    const bad = await s.call('POST', v1('/clients'), { payload: `{"name": "x", "publicKey": "${key}"` });
    expectError(bad, 400, 'bad-request');
    expect(bad.body).not.toContain(key);
    expectError(await s.call('POST', v1('/clients'), { payload: '' }), 400, 'bad-request');
    const huge = await s.call('POST', v1('/clients'), {
      body: { name: 'x', generateKey: true, notes: 'n'.repeat(BODY_LIMIT) },
    });
    expectError(huge, 413, 'bad-request');
    const text = await s.call('POST', v1('/clients'), {
      payload: 'name=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectError(text, 415, 'bad-request');
    expect(s.backend.listClients()).toHaveLength(2);
  });

  it('a key-like value or field name is never repeated in an error', async () => {
    const key = freshPublicKey();
    const res = await s.call('POST', v1('/clients'), { body: { name: 'x', generateKey: true, [key]: 1 } });
    expectError(res, 400, 'bad-request');
    expect(res.body).not.toContain(key);
    const inName = await s.call('POST', v1('/clients'), { body: { name: key, generateKey: true } });
    expectError(inName, 400, 'bad-request', 'name');
    expect(inName.body).not.toContain(key);
    const inPath = await s.call('GET', v1(`/nothing/${encodeURIComponent(key)}`));
    expectError(inPath, 404, 'not-found');
    expect(inPath.body).not.toContain(key);
    expect(inPath.body).not.toContain(encodeURIComponent(key));
  });

  it('unknown clients: 404 not-found on every client route', async () => {
    for (const [method, path, body] of [
      ['GET', '/clients/nobody', undefined],
      ['PATCH', '/clients/nobody', { notes: 'x' }],
      ['DELETE', '/clients/nobody', undefined],
      ['GET', '/clients/nobody/config', undefined],
      ['GET', '/clients/nobody/usage', undefined],
      ['POST', '/clients/nobody/disable', undefined],
      ['POST', '/clients/nobody/enable', undefined],
    ] as const) {
      expectError(await s.call(method, v1(path), { body }), 404, 'not-found', 'name');
    }
    expectError(await s.call('GET', v1('/nowhere')), 404, 'not-found');
  });

  it('duplicates: 409 naming name or publicKey', async () => {
    const file1 = s.backend.getClient('file-1');
    expectError(
      await s.call('POST', v1('/clients'), { body: { name: 'file-1', generateKey: true } }),
      409,
      'duplicate',
      'name',
    );
    expectError(
      await s.call('POST', v1('/clients'), { body: { name: 'new', publicKey: file1.publicKey } }),
      409,
      'duplicate',
      'publicKey',
    );
    await s.call('POST', v1('/clients'), { body: { name: 'api-1', generateKey: true } });
    expectError(await s.call('PATCH', v1('/clients/api-1'), { body: { name: 'file-2' } }), 409, 'duplicate', 'name');
  });

  it('file clients: any change but enable/disable, and delete, are 409 file-managed', async () => {
    expectError(
      await s.call('PATCH', v1('/clients/file-1'), { body: { policy: 'small' } }),
      409,
      'file-managed',
      'policy',
    );
    expectError(
      await s.call('PATCH', v1('/clients/file-1'), { body: { name: 'z', enabled: false } }),
      409,
      'file-managed',
      'name',
    );
    expectError(await s.call('DELETE', v1('/clients/file-1')), 409, 'file-managed');
    expect(s.backend.getClient('file-1')).toMatchObject({ name: 'file-1', enabled: true, policy: 'basic' });
  });

  it('an unknown policy is 400 unknown-policy; an empty pool 503 pool-exhausted', async () => {
    expectError(
      await s.call('POST', v1('/clients'), { body: { name: 'x', generateKey: true, policy: 'gold' } }),
      400,
      'unknown-policy',
      'policy',
    );
    const full = setup({ backendOptions: { fileClients: fakeFileClients(2), poolSize: 2 } });
    expectError(
      await full.call('POST', v1('/clients'), { body: { name: 'x', generateKey: true } }),
      503,
      'pool-exhausted',
    );
  });

  it('a key in a backend message is not repeated', async () => {
    const key = freshPublicKey();
    const leaky: AdminBackend = Object.assign(Object.create(FakeAdminBackend.prototype) as AdminBackend, {
      getClient: () => {
        throw new AdminError('duplicate', `another client has the key ${key}`, 'publicKey');
      },
    });
    const res = await setup({ backend: leaky }).call('GET', v1('/clients/x'));
    expectError(res, 409, 'duplicate', 'publicKey');
    expect(res.body).not.toContain(key);
    expect(errorOf(res).error.message).toBe('another client has the key (key)');
  });

  it('a backend answer that does not fit the response schema is 500 internal', async () => {
    const odd: AdminBackend = Object.assign(Object.create(FakeAdminBackend.prototype) as AdminBackend, {
      policies: () => 'not a list',
    });
    expectError(await setup({ backend: odd }).call('GET', v1('/policies')), 500, 'internal');
  });

  it('an unexpected failure is 500 internal with a generic message; the real one is logged', async () => {
    const secret = 'mgt_' + 'Z'.repeat(43);
    const broken: AdminBackend = Object.assign(Object.create(FakeAdminBackend.prototype) as AdminBackend, {
      listClients: () => {
        throw new Error(`database exploded near ${secret}`);
      },
      status: () => {
        throw new AdminError('internal', `store failed ${secret}`);
      },
    });
    const b = setup({ backend: broken });
    for (const path of ['/clients', '/status']) {
      const res = await b.call('GET', v1(path));
      expectError(res, 500, 'internal');
      expect(res.body).not.toContain(secret);
      expect(res.body).not.toContain('exploded');
    }
    expect(b.logs.join('')).toContain('database exploded');
  });
});

describe('admin API auth', () => {
  it.each([
    ['no header', {}],
    ['the Basic scheme', { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` }],
    ['a wrong token', { authorization: `Bearer ${OTHER_TOKEN}` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
    ['two tokens', { authorization: `Bearer ${TOKEN} ${TOKEN}` }],
  ])('%s: 401 unauthorized with WWW-Authenticate: Bearer on every route', async (_what, headers) => {
    const s = setup();
    for (const [method, url] of [
      ['GET', v1('/clients')],
      ['POST', v1('/clients')],
      ['PATCH', v1('/clients/file-1')],
      ['DELETE', v1('/clients/file-1')],
      ['POST', v1('/clients/file-1/disable')],
      ['GET', v1('/status')],
      ['GET', '/api/openapi.json'],
      ['GET', '/metrics'],
    ] as const) {
      const body = method === 'POST' || method === 'PATCH' ? { notes: 'x' } : undefined;
      const res = await s.call(method, url, { token: null, headers, body });
      expectError(res, 401, 'unauthorized');
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(res.body).not.toContain(TOKEN);
      expect(res.body).not.toContain(OTHER_TOKEN);
    }
    expect(s.backend.getClient('file-1').enabled).toBe(true);
  });

  it('a revoked token stops working at once', async () => {
    const s = setup();
    expect((await s.call('GET', v1('/clients'))).statusCode).toBe(200);
    s.tokens.delete(TOKEN);
    expectError(await s.call('GET', v1('/clients')), 401, 'unauthorized');
  });

  it('metricsPublic opens /metrics only', async () => {
    const s = setup({ metricsPublic: true });
    const res = await s.call('GET', '/metrics', { token: null });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(METRICS_TEXT);
    expectError(await s.call('GET', v1('/clients'), { token: null }), 401, 'unauthorized');
    expectError(await s.call('GET', '/api/openapi.json', { token: null }), 401, 'unauthorized');
  });

  it('the trusted (Unix socket) app asks for no token', async () => {
    const s = setup({ trusted: true });
    expect((await s.call('GET', v1('/clients'), { token: null })).statusCode).toBe(200);
    expect((await s.call('GET', '/metrics', { token: null })).statusCode).toBe(200);
    expect((await s.call('GET', '/api/openapi.json', { token: null })).statusCode).toBe(200);
  });
});

describe('admin API under concurrent requests', () => {
  it('many PATCH and POST at once: no 500, one winner per name, a consistent final state', async () => {
    const s = setup();
    await s.call('POST', v1('/clients'), { body: { name: 'shared', generateKey: true } });
    const creates = Array.from({ length: 40 }, (_, i) =>
      s.call('POST', v1('/clients'), { body: { name: `c-${i % 20}`, publicKey: freshPublicKey() } }),
    );
    const patches = Array.from({ length: 60 }, (_, i) =>
      s.call('PATCH', v1('/clients/shared'), { body: { notes: `n${i}`, weight: (i % 10) + 1 } }),
    );
    const toggles = Array.from({ length: 20 }, (_, i) =>
      s.call('POST', v1(`/clients/file-${(i % 2) + 1}/${i % 4 < 2 ? 'disable' : 'enable'}`)),
    );
    const all = await Promise.all([...creates, ...patches, ...toggles]);
    expect(all.filter((r) => r.statusCode >= 500)).toEqual([]);
    const createStatus = (await Promise.all(creates)).map((r) => r.statusCode);
    expect(createStatus.filter((c) => c === 201)).toHaveLength(20);
    expect(createStatus.filter((c) => c === 409)).toHaveLength(20);
    expect((await Promise.all(patches)).every((r) => r.statusCode === 200)).toBe(true);
    const final = (await s.call('GET', v1('/clients'))).json<{ clients: ClientView[] }>().clients;
    expect(final).toHaveLength(2 + 1 + 20);
    expect(new Set(final.map((c) => c.name)).size).toBe(final.length);
    expect(new Set(final.map((c) => c.publicKey)).size).toBe(final.length);
    const shared = final.find((c) => c.name === 'shared')!;
    // The last PATCH applied wins whole: notes and weight from the same request.
    const i = Number(shared.notes.slice(1));
    expect(shared.weight).toBe((i % 10) + 1);
    const leases = (await s.call('GET', v1('/leases'))).json<{ leases: unknown[] }>().leases;
    expect(leases).toHaveLength(final.length);
  });
});

afterAll(() => {
  // No response or log line holds a private or preshared key, except the 201 of a generated client.
  const secrets = backends.flatMap((b) => b.secrets);
  expect(secrets.length).toBeGreaterThan(0);
  let generated = 0;
  for (const { what, text, generatedConfig } of seen) {
    for (const secret of secrets) {
      if (generatedConfig && text.includes(secret)) generated += 1;
      else expect(text.includes(secret), `${what} holds a key`).toBe(false);
    }
    expect(text.includes(TOKEN), `${what} holds a token`).toBe(false);
    expect(/PrivateKey = [A-Za-z0-9+/]{43}=/.test(text) && !generatedConfig, `${what} holds a private key`).toBe(false);
  }
  expect(generated).toBeGreaterThan(0);
});
