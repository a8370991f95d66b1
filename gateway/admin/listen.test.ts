// The admin listeners on a temporary Unix socket and on loopback: the socket
// is 0600 in a 0700 directory and asks no token, TCP asks one; a stale socket
// is replaced, a live one or a non-socket is refused; a taken port is a clear
// error naming the address; close removes the socket.

import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeAdminBackend } from './fake-backend.js';
import { AdminListenError, parseListenAddress, startAdminServers, type AdminServers } from './listen.js';

const TOKEN = 'mgt_' + 'T'.repeat(43);

let dir: string;
let socketPath: string;
const started: AdminServers[] = [];
const servers: Server[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mg-admin-listen-'));
  socketPath = join(dir, 'run', 'mgtest0.api.sock');
});

afterEach(async () => {
  for (const s of started.splice(0)) await s.close();
  for (const s of servers.splice(0)) await new Promise((done) => s.close(done));
  rmSync(dir, { recursive: true, force: true });
});

function start(listen: string[] = []): Promise<AdminServers> {
  return startAdminServers({
    backend: new FakeAdminBackend(),
    metrics: { render: async () => '', contentType: 'text/plain' },
    tokens: { verify: (t) => (t === TOKEN ? 'admin' : null) },
    metricsPublic: false,
    log: pino({ level: 'silent' }),
    socketPath,
    listen,
  }).then((s) => {
    started.push(s);
    return s;
  });
}

type Target = { socketPath: string } | { host: string; port: number };

function get(target: Target, path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { ...target, path, agent: false, headers: token ? { authorization: `Bearer ${token}` } : {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function listenOn(path: string | { host: string; port: number }): Promise<Server> {
  const server = createServer((c) => c.destroy());
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}

describe('startAdminServers', () => {
  it('serves the trusted socket (0600, dir 0700, no token) and TCP on 127.0.0.1 (token)', async () => {
    const s = await start(['127.0.0.1:0']);
    expect(s.addresses[0]).toBe(socketPath);
    const tcp = parseListenAddress(s.addresses[1]!);
    expect(tcp.host).toBe('127.0.0.1');
    expect(tcp.port).toBeGreaterThan(0);
    const st = statSync(socketPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o700);

    expect((await get({ socketPath }, '/api/v1/status')).status).toBe(200);
    const refused = await get(tcp, '/api/v1/status');
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'unauthorized' } });
    expect((await get(tcp, '/api/v1/status', TOKEN)).status).toBe(200);

    await s.close();
    expect(existsSync(socketPath)).toBe(false);
    await expect(get(tcp, '/api/v1/status', TOKEN)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await s.close(); // idempotent
  });

  it('replaces a stale socket', async () => {
    // A socket file nobody serves: bind, move the file to the path, close.
    const old = await listenOn(join(dir, 'old.sock'));
    await start().then((s) => s.close()); // makes the run dir
    renameSync(join(dir, 'old.sock'), socketPath);
    await new Promise((done) => old.close(done));
    servers.splice(servers.indexOf(old), 1);
    expect(statSync(socketPath).isSocket()).toBe(true);
    await start();
    expect((await get({ socketPath }, '/api/v1/status')).status).toBe(200);
  });

  it('refuses a socket a live process serves, and a path that is not a socket; both left alone', async () => {
    await start().then((s) => s.close());
    await listenOn(socketPath);
    const live = await start().catch((e: unknown) => e);
    expect(live).toBeInstanceOf(AdminListenError);
    expect(live).toMatchObject({ code: 'socket-in-use', address: socketPath });
    expect(statSync(socketPath).isSocket()).toBe(true);
    await new Promise((done) => servers.pop()!.close(done));

    writeFileSync(socketPath, 'keep me');
    await expect(start()).rejects.toMatchObject({ code: 'socket-path' });
    expect(readFileSync(socketPath, 'utf8')).toBe('keep me');
  });

  it('refuses a socket directory others may write', async () => {
    const open = join(dir, 'open');
    socketPath = join(open, 'x.sock');
    await start().then((s) => s.close());
    chmodSync(open, 0o777);
    await expect(start()).rejects.toMatchObject({ code: 'socket-path' });
  });

  it('a taken port is an error naming the address; nothing is left listening', async () => {
    const taken = await listenOn({ host: '127.0.0.1', port: 0 });
    const port = (taken.address() as { port: number }).port;
    const error = await start(['127.0.0.1:0', `127.0.0.1:${port}`]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdminListenError);
    expect(error).toMatchObject({ code: 'address-in-use', address: `127.0.0.1:${port}` });
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
    expect(existsSync(socketPath)).toBe(false);
  });

  it('a bad address is refused before anything listens', async () => {
    await expect(start(['localhost:80'])).rejects.toMatchObject({ code: 'bad-address' });
    expect(existsSync(socketPath)).toBe(false);
  });
});

describe('parseListenAddress', () => {
  it.each([
    ['127.0.0.1:9580', '127.0.0.1', 9580],
    ['[::1]:9580', '::1', 9580],
    ['[2001:db8::1]:0', '2001:db8::1', 0],
    ['192.0.2.7:65535', '192.0.2.7', 65535],
  ])('%s', (text, host, port) => {
    expect(parseListenAddress(text)).toEqual({ host, port });
  });

  it.each(['localhost:80', '::1:80', '127.0.0.1', '127.0.0.1:65536', '[::1]', '[127.0.0.1]:80', '1.2.3.4:x', ''])(
    'refuses %j',
    (text) => {
      expect(() => parseListenAddress(text)).toThrow(AdminListenError);
    },
  );
});
