// `meshgate clients …`, `usage` and `status` end to end in-process: main()
// with captured stdout/stderr, talking HTTP over a real Unix socket (in a temp
// MESHGATE_RUN_DIR) to the real admin app (server.ts) on the in-memory
// backend. Text and --json output of every command, API refusals (exit 2, one
// line naming code and field), 5xx and a gateway that is not running (exit 1),
// the one-time generated config with its QR code (terminal and a 0600 PNG),
// export filling the private key from a local key file, and no private key in
// any output but those two.
import { createServer } from 'node:http';
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { runMain, type Run } from '../../test/support/run-main.js';
import { generatePrivateKeyText, publicKeyText } from '../../shared/wireguard/keys.js';
import type { UsageReport } from '../usage-report.js';
import { adminSocketPath } from './api-address.js';
import type { ClientView, GatewayView } from './backend.js';
import { FakeAdminBackend, fakeFileClients } from './fake-backend.js';
import { qrTerminal } from './qr.js';
import { buildAdminApp } from './server.js';

// CONTROL_DIR is read when shared/control/socket.ts loads: set it first.
const RUN_DIR = vi.hoisted(() => {
  const dir = `${process.env.TMPDIR ?? '/tmp'}/mg-admin-cli-${process.pid}-${Math.random().toString(36).slice(2)}`;
  process.env.MESHGATE_RUN_DIR = dir;
  return dir;
});

const IFACE = 'mgclitest0';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const random = (n: number): Uint8Array => randomBytes(n);

let app: FastifyInstance;
let backend: FakeAdminBackend;
/** Every private key the test made or saw: none may show up where it does not belong. */
const ownSecrets: string[] = [];

/** main() with stdout/stderr captured; stdout is a terminal only when `tty` says so. */
const run = (argv: string[], opts: { tty?: boolean } = {}): Promise<Run> => runMain(argv, { tty: opts.tty === true });

const at = ['--interface', IFACE];

/** stdout of a command that drew a QR code: the config, a blank line, the code (ANSI colours). */
function splitQr(stdout: string): { configText: string; qr: string } {
  const start = stdout.indexOf('\u001b[');
  expect(start).toBeGreaterThan(0);
  expect(stdout[start - 1]).toBe('\n');
  return { configText: stdout.slice(0, start - 1), qr: stdout.slice(start) };
}
const jsonOf = <T>(r: Run): T => JSON.parse(r.stdout) as T;

beforeAll(async () => {
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
});

beforeEach(async () => {
  await app?.close();
  backend = new FakeAdminBackend({ fileClients: fakeFileClients(2) });
  app = buildAdminApp({
    backend,
    metrics: { render: async () => '', contentType: 'text/plain' },
    tokens: { verify: () => null },
    trusted: true,
    metricsPublic: false,
    log: pino({ level: 'silent' }),
  });
  await app.listen({ path: adminSocketPath(IFACE) });
});

afterAll(async () => {
  await app?.close();
  rmSync(RUN_DIR, { recursive: true, force: true });
  for (const s of backend.secrets) ownSecrets.push(s);
});

describe('meshgate clients', () => {
  it('add with a public key, then list, show (text and --json)', async () => {
    const key = publicKeyText(generatePrivateKeyText(random));
    const add = await run([
      'clients',
      'add',
      'flat-3a',
      '--public-key',
      key,
      '--policy',
      'small',
      '--notes',
      'top floor',
      ...at,
    ]);
    expect(add).toEqual({
      code: 0,
      stdout: expect.stringMatching(/^added client flat-3a: 198\.51\.100\.\d+, 2001:db8:/),
      stderr: '',
    });

    const list = await run(['clients', 'list', ...at]);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME +ORIGIN +ENABLED +POLICY +IPV4 +IPV6 +DOWN +UP +USED\/QUOTA +STATE +HANDSHAKE$/);
    expect(lines.slice(1).map((l) => l.split(/ +/).slice(0, 4))).toEqual([
      ['file-1', 'file', 'yes', 'basic'],
      ['file-2', 'file', 'yes', 'basic'],
      ['flat-3a', 'api', 'yes', 'small'],
    ]);
    expect(lines[3]).toMatch(/ 0 B +0 B +0 B\/5\.\d+ GB +ok +never$/);
    const listed = jsonOf<ClientView[]>(await run(['clients', 'list', '--json', ...at]));
    expect(listed.map((c) => c.name)).toEqual(['file-1', 'file-2', 'flat-3a']);

    const show = await run(['clients', 'show', 'flat-3a', ...at]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('client: flat-3a\n');
    expect(show.stdout).toContain(`  public key: ${key}\n`);
    expect(show.stdout).toContain('  policy: small (weight 1)\n');
    expect(show.stdout).toContain('  notes: top floor\n');
    const shown = jsonOf<ClientView>(await run(['clients', 'show', 'flat-3a', '--json', ...at]));
    expect(shown).toMatchObject({
      name: 'flat-3a',
      publicKey: key,
      origin: 'api',
      policy: 'small',
      notes: 'top floor',
    });
  });

  it('set, disable, enable and remove change the client through the API', async () => {
    const key = publicKeyText(generatePrivateKeyText(random));
    expect((await run(['clients', 'add', 'a', '--public-key', key, '--disabled', ...at])).stdout).toMatch(
      /^added client a \(disabled\): /,
    );
    expect(backend.getClient('a').enabled).toBe(false);
    expect(await run(['clients', 'enable', 'a', ...at])).toEqual({ code: 0, stdout: 'enabled client a\n', stderr: '' });
    expect(backend.getClient('a').enabled).toBe(true);
    expect(await run(['clients', 'disable', 'a', ...at])).toEqual({
      code: 0,
      stdout: 'disabled client a\n',
      stderr: '',
    });
    expect(backend.getClient('a').enabled).toBe(false);

    const set = await run([
      'clients',
      'set',
      'a',
      '--name',
      'b',
      '--policy',
      'basic',
      '--weight',
      '7',
      '--notes',
      'n',
      ...at,
    ]);
    expect(set).toEqual({ code: 0, stdout: 'updated client b\n', stderr: '' });
    expect(backend.getClient('b')).toMatchObject({ policy: 'basic', weight: 7, notes: 'n' });
    const back = jsonOf<ClientView>(await run(['clients', 'set', 'b', '--weight', 'default', '--json', ...at]));
    expect(back.weight).toBe(2); // basic's

    expect(await run(['clients', 'remove', 'b', ...at])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^removed client b;/),
    });
    expect(backend.listClients().map((c) => c.name)).toEqual(['file-1', 'file-2']);
  });

  it('add --generate-key prints the config once, draws its QR code on a terminal and writes a 0600 PNG', async () => {
    const png = join(RUN_DIR, 'phone.png');
    writeFileSync(png, 'old', { mode: 0o644 }); // an existing file is made 0600 before the key goes in
    const r = await run(['clients', 'add', 'phone', '--generate-key', '--png', png, ...at], { tty: true });
    expect(r.code).toBe(0);
    const [secret] = backend.secrets;
    const { configText, qr } = splitQr(r.stdout);
    expect(configText).toContain(`PrivateKey = ${secret}\n`);
    expect(qr.length).toBeGreaterThan(200);
    expect(qr).toBe(await qrTerminal(configText)); // the QR code is of exactly the config printed
    expect(r.stderr).toMatch(/^meshgate: added client phone: .*shown only this once/);
    expect(r.stderr).not.toContain(secret);

    const file = readFileSync(png);
    expect(file.subarray(0, 8)).toEqual(PNG_SIGNATURE);
    expect(file.subarray(12, 16).toString('latin1')).toBe('IHDR');
    expect(file.readUInt32BE(16)).toBe(file.readUInt32BE(20)); // square
    expect(file.subarray(-8, -4).toString('latin1')).toBe('IEND');
    expect(statSync(png).mode & 0o777).toBe(0o600);

    // Not a terminal: the config alone (a file it is redirected into stays a config), a note on stderr.
    const piped = await run(['clients', 'add', 'laptop', '--generate-key', ...at]);
    expect(piped.stdout).toMatch(/^# WireGuard|^\[Interface\]/);
    expect(piped.stdout).not.toContain('\u001b[');
    expect(piped.stderr).toContain('stdout is not a terminal: no QR code drawn');

    // Shown once: nothing else ever carries it.
    const again = await run(['clients', 'show', 'phone', '--json', ...at]);
    const exported = await run(['clients', 'export', 'phone', ...at]);
    for (const s of backend.secrets) {
      for (const later of [again, exported, await run(['clients', 'list', '--json', ...at])]) {
        expect(later.stdout + later.stderr).not.toContain(s);
      }
    }
  });

  it('export prints the config with the PrivateKey line left open, or filled from a local 0600 key file', async () => {
    const privateKey = generatePrivateKeyText(random);
    ownSecrets.push(privateKey);
    await run(['clients', 'add', 'tab', '--public-key', publicKeyText(privateKey), ...at]);

    const open = await run(['clients', 'export', 'tab', ...at]);
    expect(open.code).toBe(0);
    expect(open.stdout).toContain("# PrivateKey = <the client's private key>\n");
    expect(open.stderr).toContain('--private-key-file F fills it in');

    const keyFile = join(RUN_DIR, 'tab.key');
    writeFileSync(keyFile, privateKey + '\n', { mode: 0o600 });
    const png = join(RUN_DIR, 'tab.png');
    const filled = await run(['clients', 'export', 'tab', '--private-key-file', keyFile, '--png', png, ...at], {
      tty: true,
    });
    expect(filled.code).toBe(0);
    expect(filled.stdout).toContain(`\nPrivateKey = ${privateKey}\n`);
    expect(filled.stdout).not.toContain('# PrivateKey');
    const { configText, qr } = splitQr(filled.stdout);
    expect(qr).toBe(await qrTerminal(configText));
    expect(statSync(png).mode & 0o777).toBe(0o600);
    expect(readFileSync(png).subarray(0, 8)).toEqual(PNG_SIGNATURE);
    expect(filled.stderr).not.toContain(privateKey);

    // Another client's key, a key file others may read, a --png without the key: exit 2, no key shown.
    const other = join(RUN_DIR, 'other.key');
    const otherKey = generatePrivateKeyText(random);
    ownSecrets.push(otherKey);
    writeFileSync(other, otherKey + '\n', { mode: 0o600 });
    const wrong = await run(['clients', 'export', 'tab', '--private-key-file', other, ...at]);
    expect(wrong).toEqual({
      code: 2,
      stdout: '',
      stderr: `meshgate: --private-key-file: the key in ${other} is not tab's (its public key differs)\n`,
    });
    chmodSync(keyFile, 0o644);
    const loose = await run(['clients', 'export', 'tab', '--private-key-file', keyFile, ...at]);
    expect(loose.code).toBe(2);
    expect(loose.stderr).toMatch(/^meshgate: --private-key-file: .* has mode 0644: group\/others may access it/);
    const pngOnly = await run(['clients', 'export', 'tab', '--png', png, ...at]);
    expect(pngOnly.code).toBe(2);
    expect(pngOnly.stderr).toContain('--png needs --private-key-file');
    for (const r of [wrong, loose, pngOnly]) expect(r.stdout + r.stderr).not.toContain(privateKey);
  });

  it('an API refusal is exit 2 with one line: code, field, message', async () => {
    const unknown = await run(['clients', 'show', 'nobody', ...at]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^meshgate: not-found: [^\n]+\n$/);
    expect(unknown.stdout).toBe('');

    const fileClient = await run(['clients', 'set', 'file-1', '--notes', 'x', ...at]);
    expect(fileClient.code).toBe(2);
    expect(fileClient.stderr).toMatch(/^meshgate: file-managed: [^\n]+\n$/);

    const key = publicKeyText(generatePrivateKeyText(random));
    const policy = await run(['clients', 'add', 'p', '--public-key', key, '--policy', 'gold', ...at]);
    expect(policy.code).toBe(2);
    expect(policy.stderr).toMatch(/^meshgate: unknown-policy: (policy: )?[^\n]+\n$/);
    const weight = await run(['clients', 'add', 'p', '--public-key', key, '--weight', '0', ...at]);
    expect(weight).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^meshgate: (bad-request|invalid): weight[^\n]+\n$/),
    });
    const dup = await run(['clients', 'add', 'file-1', '--public-key', key, ...at]);
    expect(dup).toMatchObject({ code: 2, stderr: expect.stringMatching(/^meshgate: duplicate: name: [^\n]+\n$/) });
  });

  it('usage errors are caught before any request (exit 2)', async () => {
    const key = publicKeyText(generatePrivateKeyText(random));
    for (const [argv, says] of [
      [['clients', 'add', 'x'], 'give either --public-key KEY'],
      [['clients', 'add', 'x', '--public-key', key, '--generate-key'], 'give either --public-key KEY'],
      [['clients', 'add', 'x', '--public-key', key, '--png', 'f.png'], '--png needs --generate-key'],
      [['clients', 'add', 'x', '--public-key', key, '--weight', 'heavy'], '--weight: a whole number'],
      [['clients', 'set', 'x'], 'nothing to change'],
      [['clients', 'list', '--interface', 'a/b'], '--interface'],
      [['clients', 'list', '--interface', IFACE, '--config', 'g.yaml'], 'give one'],
      [['clients'], 'missing command after "meshgate clients"'],
      [['clients', 'frob'], 'unknown command "clients frob"'],
    ] as const) {
      const r = await run([...argv]);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^meshgate: [^\n]+\n$/);
      expect(r.stderr).toContain(says);
    }
    expect(backend.listClients()).toHaveLength(2);
  });
});

describe('meshgate usage and status', () => {
  it('usage renders the report as gateway usage does; --json is the API report', async () => {
    backend.addTraffic('file-1', 3_000_000, 1_000_000);
    const r = await run(['usage', ...at]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^NAME +STATE +DOWNLOAD +UPLOAD +USED\/QUOTA +PERIOD-END$/);
    expect(r.stdout).toMatch(/\nfile-1 +ok +3 MB +1 MB +/);
    const report = jsonOf<UsageReport>(await run(['usage', '--json', ...at]));
    expect(report.clients.map((c) => c.name)).toEqual(['file-1', 'file-2']);
    expect(report.clients[0]!.download.bytes).toBe(3_000_000);
  });

  it('status shows the gateway; --json is the API view', async () => {
    const r = await run(['status', ...at]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^gateway: \S+\n {2}public key: \S+\n/);
    expect(r.stdout).toContain('  clients: 2 (2 enabled)\n');
    expect(r.stdout).toMatch(/\n {2}ipv4 pool: \S+: 2 of \d+ leases used\n/);
    const view = jsonOf<GatewayView>(await run(['status', '--json', ...at]));
    expect(view.clients).toEqual({ total: 2, enabled: 2 });
  });

  it('a 5xx answer is exit 1 with the API code, no stack', async () => {
    vi.spyOn(backend, 'status').mockImplementationOnce(() => {
      throw new Error('boom');
    });
    const r = await run(['status', ...at]);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'meshgate: internal: internal error (see the gateway log)\n' });
  });
});

describe('a gateway that is not running', () => {
  it('no socket, or a socket nobody listens on: one line naming the interface and the socket, exit 1', async () => {
    const none = await run(['clients', 'list', '--interface', 'mgnone0']);
    expect(none).toEqual({
      code: 1,
      stdout: '',
      stderr: `meshgate: the gateway mgnone0 is not running (no admin socket at ${adminSocketPath('mgnone0')})\n`,
    });
    // A leftover file where the socket was (connect answers ECONNREFUSED).
    writeFileSync(adminSocketPath('mgstale0'), '');
    for (const argv of [['status'], ['usage'], ['clients', 'show', 'x'], ['clients', 'remove', 'x']]) {
      const r = await run([...argv, '--interface', 'mgstale0']);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `meshgate: the gateway mgstale0 is not running (no admin socket at ${adminSocketPath('mgstale0')})\n`,
      );
    }
  });

  it('mg0 is the default interface', async () => {
    const r = await run(['status']);
    expect(r.stderr).toContain(`the gateway mg0 is not running (no admin socket at ${join(RUN_DIR, 'mg0.api.sock')})`);
  });
});

describe("answers that are not the API's", () => {
  it('a broken body is exit 1; a 4xx without an error body exit 2; a message is one clean line', async () => {
    const answers: [number, string, string][] = [
      [200, 'application/json', '{"interface": '],
      [400, 'text/html', '<h1>no</h1>'],
      [502, 'text/plain', ''],
      [409, 'application/json', JSON.stringify({ error: { code: 'duplicate', message: 'two\nlines\u001b[31m' } })],
    ];
    const stub = createServer((_req, res) => {
      const [status, type, body] = answers.shift()!;
      res.writeHead(status, { 'content-type': type }).end(body);
    });
    await new Promise<void>((done) => stub.listen(adminSocketPath('mgstub0'), done));
    try {
      const status = () => run(['status', '--interface', 'mgstub0']);
      expect(await status()).toEqual({
        code: 1,
        stdout: '',
        stderr: 'meshgate: the gateway mgstub0 answered GET /status with malformed JSON\n',
      });
      expect(await status()).toEqual({ code: 2, stdout: '', stderr: 'meshgate: http-400: HTTP 400\n' });
      expect(await status()).toEqual({
        code: 1,
        stdout: '',
        stderr: 'meshgate: http-502: the gateway mgstub0 failed\n',
      });
      expect(await status()).toEqual({ code: 2, stdout: '', stderr: 'meshgate: duplicate: two lines [31m\n' });
    } finally {
      await new Promise((done) => stub.close(done));
    }
  });
});

describe('--help', () => {
  it('every admin command answers --help with its usage, exit 0', async () => {
    for (const words of [
      ['clients'],
      ['clients', 'add'],
      ['clients', 'list'],
      ['clients', 'show'],
      ['clients', 'set'],
      ['clients', 'disable'],
      ['clients', 'enable'],
      ['clients', 'remove'],
      ['clients', 'export'],
      ['usage'],
      ['status'],
      ['gateway', 'token'],
      ['gateway', 'token', 'create'],
    ]) {
      const r = await run([...words, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout.startsWith(`usage: meshgate ${words.join(' ')}`)).toBe(true);
    }
    expect((await run(['clients', '--help'])).stdout).toMatch(/\ncommands:\n(.*\n)* {2}export +print a client's/);
  });
});
