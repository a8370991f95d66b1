// `meshgate gateway usage` on a real state database in a temporary directory
// (the daemon not running), and against a real control socket in a temporary
// run directory (the daemon's live figures); the table renderer that
// `meshgate show` shares.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// Before socket.ts is loaded: its CONTROL_DIR is read from the environment once.
const { runDir, previousRunDir } = vi.hoisted(() => {
  const previousRunDir = process.env.MESHGATE_RUN_DIR;
  const runDir = `${process.env.TMPDIR ?? '/tmp'}/mg-usage-run-${process.pid}`;
  process.env.MESHGATE_RUN_DIR = runDir;
  return { runDir, previousRunDir };
});

import { main } from '../shared/cli/main.js';
import { controlPath, serveControl } from '../shared/control/socket.js';
import { generatePrivateKeyText, publicKeyText } from '../shared/wireguard/keys.js';
import { gatewayUsage } from './cli.js';
import { loadGatewayConfig } from './config.js';
import { Store } from './store.js';
import { ClientUsage } from './traffic/usage.js';
import { quotaPolicy, trafficPolicy } from '../test/support/traffic-policy.js';
import { renderUsage, usageEntry, type UsageEntry, type UsageReport } from './usage-report.js';

const random = (n: number): Uint8Array => randomBytes(n);
const IFACE = 'mgusgtest0';
let dir: string;
let file: string;
const alice = publicKeyText(generatePrivateKeyText(random));
const bob = publicKeyText(generatePrivateKeyText(random));
const carol = publicKeyText(generatePrivateKeyText(random));

function writeConfig(): void {
  const lines = [
    `privateKeyFile: ${join(dir, 'gateway.key')}`,
    'uplink: eth0',
    `interface: ${IFACE}`,
    `stateDir: ${join(dir, 'state')}`,
    'ipv4Pool: 100.64.0.0/24',
    'ipv6:',
    '  pool: fd00:db8:1::/64',
    'defaultPolicy: resident',
    'policies:',
    '  resident:',
    '    quota:',
    '      bytes: 10kB',
    '      period: month',
    '      timeZone: UTC',
    '    rate:',
    '      down: 50Mbit',
    '  slow:',
    '    quota:',
    '      bytes: 1MB',
    '      period: week',
    '      timeZone: Europe/Berlin',
    '      count: download',
    '      atQuota: throttle',
    '      throttle: 1Mbit',
    'clients:',
    '  - name: alice',
    `    publicKey: "${alice}"`,
    '  - name: bob',
    `    publicKey: "${bob}"`,
    '    policy: slow',
    '  - name: carol',
    `    publicKey: "${carol}"`,
    '    policy: unlimited',
  ];
  writeFileSync(file, lines.join('\n') + '\n');
}

/** Counters as the daemon would have checkpointed them now. */
function checkpoint(traffic: Record<string, { down: number; up: number }>): void {
  const config = loadGatewayConfig(file);
  const store = Store.open(config.stateDir);
  try {
    const now = Date.now();
    const rows = config.clients
      .filter((c) => traffic[c.name] !== undefined)
      .map((c) => {
        const usage = new ClientUsage(keyOf(c.name), c.policy, config.accountingZone, now, undefined);
        usage.add('down', traffic[c.name]!.down);
        usage.add('up', traffic[c.name]!.up);
        return usage.row(now);
      });
    store.saveUsage(rows);
  } finally {
    store.close();
  }
}

function keyOf(name: string): string {
  return { alice, bob, carol }[name]!;
}

const entries = async (): Promise<UsageEntry[]> => (JSON.parse(await gatewayUsage(file, true)) as UsageReport).clients;

describe('meshgate gateway usage, from the state db', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mg-usage-'));
    file = join(dir, 'gateway.yaml');
    writeFileSync(join(dir, 'gateway.key'), generatePrivateKeyText(random) + '\n', { mode: 0o600 });
    writeConfig();
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(runDir, { recursive: true, force: true });
    if (previousRunDir === undefined) delete process.env.MESHGATE_RUN_DIR;
    else process.env.MESHGATE_RUN_DIR = previousRunDir;
  });

  it('lists every configured client at zero before anything was counted', async () => {
    const list = await entries();
    expect(list.map((e) => [e.name, e.policy, e.state, e.used, e.quota])).toEqual([
      ['alice', 'resident', 'ok', 0, 10_000],
      ['bob', 'slow', 'ok', 0, 1_000_000],
      ['carol', 'unlimited', 'ok', 0, null],
    ]);
    const a = list[0]!;
    expect(a.publicKey).toBe(alice);
    expect(a.limits).toEqual({ down: 50_000_000, up: null });
    expect(a.drops).toEqual({ quota: 0, queue: 0 });
    expect(a.periodStart).toMatch(/^\d{4}-\d{2}-01T00:00:00\.000Z$/);
    expect(Date.parse(a.periodEnd)).toBeGreaterThan(Date.now());
    expect(Date.parse(a.periodStart)).toBeLessThanOrEqual(Date.now());
  });

  it('shows the stored counters with the state computed from the configured policy', async () => {
    checkpoint({ alice: { down: 9_000, up: 1_000 }, bob: { down: 1_000_000, up: 5 }, carol: { down: 3, up: 4 } });
    const [a, b, c] = await entries();
    expect(a).toMatchObject({
      state: 'blocked',
      used: 10_000,
      download: { bytes: 9_000, packets: 1 },
      upload: { bytes: 1_000, packets: 1 },
      limits: { down: 0, up: 0 },
    });
    expect(b).toMatchObject({ state: 'throttled', used: 1_000_000, limits: { down: 1_000_000, up: 1_000_000 } });
    expect(c).toMatchObject({ state: 'ok', used: 0, quota: null, download: { bytes: 3, packets: 1 } });
    // bob's week starts on a Monday at 00:00 in Berlin (23:00 or 22:00 UTC on the Sunday).
    expect(new Date(b!.periodStart).getUTCDay()).toBe(0);
    expect(new Date(b!.periodEnd).getTime() - new Date(b!.periodStart).getTime()).toBeGreaterThanOrEqual(
      7 * 86_400_000 - 3_600_000,
    );
    const text = await gatewayUsage(file, false);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STATE\s+DOWNLOAD\s+UPLOAD\s+USED\/QUOTA\s+PERIOD-END$/);
    expect(lines[1]).toMatch(/^alice\s+blocked\s+9 kB\s+1 kB\s+10 kB\/10 kB\s+\d{4}-\d{2}-01 00:00 UTC$/);
    expect(lines[2]).toMatch(/^bob\s+throttled \(1 Mbit\/s\)\s+1 MB\s+5 B\s+1 MB\/1 MB\s+/);
    expect(lines[3]).toMatch(/^carol\s+ok\s+3 B\s+4 B\s+unlimited\s+/);
    expect(lines[4]).toMatch(/^\(from the state db: the gateway is not running/);
  });

  it('falls back to the state db when the control socket is stale (a killed daemon)', async () => {
    mkdirSync(runDir, { recursive: true });
    writeFileSync(controlPath(IFACE), ''); // nothing listens: connecting is refused
    try {
      expect((await entries())[0]).toMatchObject({ name: 'alice', state: 'blocked' });
    } finally {
      rmSync(controlPath(IFACE), { force: true });
    }
  });

  it('prints the running daemon’s figures when it answers (control op "usage")', async () => {
    // What the daemon would answer: alice's live counters, as gateway.ts builds them.
    const resident = trafficPolicy({
      name: 'resident',
      quota: quotaPolicy(200e9),
      down: { bitsPerSecond: 50e6, burstBytes: 1e6 },
    });
    const usage = new ClientUsage(alice, resident, 'UTC', Date.UTC(2026, 11, 2), undefined);
    usage.add('down', 1_234_567);
    usage.add('up', 2_000);
    const live: UsageReport = {
      at: '2026-12-02T00:00:00.000Z',
      clients: [usageEntry('alice', usage, { quota: 0, queue: 3 })],
    };
    const ops: string[] = [];
    const server: Server = serveControl(IFACE, (req) => {
      ops.push(req.op);
      if (req.op === 'usage') return live;
      throw new Error(`unknown op ${req.op}`);
    });
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      expect(JSON.parse(await gatewayUsage(file, true))).toEqual(live);
      const text = await gatewayUsage(file, false);
      expect(text).toBe(
        'NAME   STATE  DOWNLOAD  UPLOAD  USED/QUOTA      PERIOD-END\n' +
          'alice  ok     1.23 MB   2 kB    1.24 MB/200 GB  2027-01-01 00:00 UTC\n',
      );
      expect(ops).toEqual(['usage', 'usage']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('through the command line: --json, --help exit 0; a bad option or argument exit 2 with one line', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['gateway', 'usage', '--json', '--config', file])).toBe(0);
      const report = JSON.parse(String(out.mock.calls.at(-1)![0])) as UsageReport;
      expect(Object.keys(report)).toEqual(['at', 'clients']);
      expect(Date.parse(report.at)).not.toBeNaN();
      expect(Object.keys(report.clients[0]!)).toEqual([
        'name',
        'publicKey',
        'policy',
        'state',
        'periodStart',
        'periodEnd',
        'download',
        'upload',
        'used',
        'quota',
        'limits',
        'drops',
      ]);
      expect(await main(['gateway', 'usage', '--help'])).toBe(0);
      expect(String(out.mock.calls.at(-1)![0])).toMatch(/meshgate gateway usage --config FILE \[--json\]/);
      expect(await main(['gateway', 'usage', '--config', file, '--bogus'])).toBe(2);
      expect(String(err.mock.calls.at(-1)![0])).toMatch(/^meshgate[^\n]*--bogus[^\n]*\n$/);
      expect(await main(['gateway', 'usage', 'extra', '--config', file])).toBe(2);
      expect(await main(['gateway', 'usage'])).toBe(2);
      expect(String(err.mock.calls.at(-1)![0])).toMatch(/--config/);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
});

describe('renderUsage / usageEntry', () => {
  const policy = trafficPolicy({
    name: 'p',
    quota: quotaPolicy(5_000, 'throttle', { throttle: { bitsPerSecond: 2_000_000, burstBytes: 25_000 } }),
    down: { bitsPerSecond: 10_000_000, burstBytes: 125_000 },
  });

  it('an entry carries the live counters, the throttle in force and the drops', () => {
    const u = new ClientUsage(alice, policy, 'UTC', Date.UTC(2026, 11, 2), undefined);
    u.add('down', 4_000);
    expect(usageEntry('alice', u, { quota: 0, queue: 7 }).limits).toEqual({ down: 10_000_000, up: null });
    u.add('up', 1_000);
    expect(usageEntry('alice', u, { quota: 0, queue: 7 })).toEqual({
      name: 'alice',
      publicKey: alice,
      policy: 'p',
      state: 'throttled',
      periodStart: '2026-12-01T00:00:00.000Z',
      periodEnd: '2027-01-01T00:00:00.000Z',
      download: { bytes: 4_000, packets: 1 },
      upload: { bytes: 1_000, packets: 1 },
      used: 5_000,
      quota: 5_000,
      limits: { down: 2_000_000, up: 2_000_000 },
      drops: { quota: 0, queue: 7 },
    });
  });

  it('renders nothing for no entries (meshgate show on a gateway without clients)', () => {
    expect(renderUsage([])).toBe('');
  });
});
