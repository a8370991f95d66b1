// The lease administration commands on a real state database in a temporary
// directory: `meshgate gateway leases` lists leases and reservations, and
// `meshgate gateway release` frees only the reservation of a key that is no
// longer configured (exit 2 with one clear line for everything else).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../shared/cli/main.js';
import { generatePrivateKeyText, publicKeyText } from '../shared/wireguard/keys.js';
import { GatewayUsageError, listLeases, releaseLease, type LeaseRow } from './cli.js';
import { loadGatewayConfig } from './config.js';
import { leasesFor, poolsOf } from './lease-plan.js';
import { Store } from './store.js';

const random = (n: number): Uint8Array => randomBytes(n);
let dir: string;
let file: string;
const alice = publicKeyText(generatePrivateKeyText(random));
const bob = publicKeyText(generatePrivateKeyText(random));

function writeConfig(clients: { name: string; publicKey: string }[]): void {
  const lines = [
    `privateKeyFile: ${join(dir, 'gateway.key')}`,
    'uplink: eth0',
    'interface: mgclitest0',
    `stateDir: ${join(dir, 'state')}`,
    'ipv4Pool: 100.64.0.0/24',
    'ipv6:',
    '  pool: fd00:db8:1::/64',
    'clients:',
    ...clients.flatMap((c) => [`  - name: ${c.name}`, `    publicKey: "${c.publicKey}"`]),
  ];
  writeFileSync(file, lines.join('\n') + '\n');
}

/** What the gateway does at start: plan and store every configured client's lease. */
function planAsTheGatewayDoes(): void {
  const config = loadGatewayConfig(file);
  const store = Store.open(config.stateDir);
  try {
    leasesFor(config, store, poolsOf(config, store), Date.now());
  } finally {
    store.close();
  }
}

const rows = (): LeaseRow[] => JSON.parse(listLeases(file, true)) as LeaseRow[];

describe('meshgate gateway leases / release', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mg-gwcli-'));
    file = join(dir, 'gateway.yaml');
    writeFileSync(join(dir, 'gateway.key'), generatePrivateKeyText(random) + '\n', { mode: 0o600 });
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists nothing before the first start, then each configured client by name', () => {
    writeConfig([
      { name: 'alice', publicKey: alice },
      { name: 'bob', publicKey: bob },
    ]);
    expect(listLeases(file, false)).toBe('no leases\n');
    planAsTheGatewayDoes();
    const byName = new Map(rows().map((r) => [r.name, r]));
    expect(byName.get('alice')).toMatchObject({ publicKey: alice, ipv4: '100.64.0.2', ipv6: 'fd00:db8:1::2/128' });
    expect(byName.get('bob')).toMatchObject({ publicKey: bob, ipv4: '100.64.0.3', ipv6: 'fd00:db8:1::3/128' });
    const text = listLeases(file, false);
    expect(text.split('\n')[0]).toMatch(/^client\s+public key\s+ipv4\s+ipv6\s+since$/);
    expect(text).toContain('alice');
  });

  it('a client removed from the config keeps its addresses as a reservation', () => {
    writeConfig([{ name: 'alice', publicKey: alice }]);
    planAsTheGatewayDoes();
    const reserved = rows().find((r) => r.publicKey === bob);
    expect(reserved).toMatchObject({ name: null, ipv4: '100.64.0.3' });
    expect(listLeases(file, false)).toMatch(/\(reserved\)\s+\S+\s+100\.64\.0\.3/);
  });

  it("refuses to release a configured client's lease, or something that is not a key", async () => {
    await expect(releaseLease(file, alice)).rejects.toThrow(/is client "alice"; remove it from clients/);
    await expect(releaseLease(file, 'not-a-key')).rejects.toThrow(GatewayUsageError);
    expect(rows()).toHaveLength(2);
  });

  it('releases a reservation: its addresses go to the next new client', async () => {
    expect(await releaseLease(file, bob)).toBe(`released 100.64.0.3 and fd00:db8:1::3/128 of ${bob}\n`);
    expect(rows().map((r) => r.name)).toEqual(['alice']);
    await expect(releaseLease(file, bob)).rejects.toThrow(/holds no lease/);
    const carol = publicKeyText(generatePrivateKeyText(random));
    writeConfig([
      { name: 'alice', publicKey: alice },
      { name: 'carol', publicKey: carol },
    ]);
    planAsTheGatewayDoes();
    expect(rows().find((r) => r.name === 'carol')).toMatchObject({ ipv4: '100.64.0.3' });
    expect(rows().find((r) => r.name === 'alice')).toMatchObject({ ipv4: '100.64.0.2' });
  });

  it('through the command line: exit 0 with the list, exit 2 with one line for a refused release', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['gateway', 'leases', '--json', '--config', file])).toBe(0);
      expect(JSON.parse(String(out.mock.calls.at(-1)![0]))).toHaveLength(2);
      expect(await main(['gateway', 'release', alice, '--config', file])).toBe(2);
      expect(String(err.mock.calls.at(-1)![0])).toMatch(/^meshgate: .*is client "alice"[^\n]*\n$/);
      expect(await main(['gateway', 'release', '--config', file])).toBe(2);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
});

// The compiled command (bin/meshgate.js → dist/, built by npm test before the
// tests run), with stdout redirected by a shell under umask 022.
describe('meshgate gateway export-client > FILE (Hardening #4)', () => {
  const bin = fileURLToPath(new URL('../bin/meshgate.js', import.meta.url));
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mg-export-'));
    const alicePrivate = generatePrivateKeyText(random);
    writeFileSync(join(dir, 'gateway.key'), generatePrivateKeyText(random) + '\n', { mode: 0o600 });
    writeFileSync(join(dir, 'alice.key'), alicePrivate + '\n', { mode: 0o600 });
    const config = [
      'privateKeyFile: gateway.key',
      'uplink: eth0',
      'interface: mgexptest0',
      'endpoint: 192.0.2.1:51820',
      'stateDir: state',
      'ipv6:',
      '  pool: fd00:db8:2::/64',
      'clients:',
      '  - name: alice',
      `    publicKey: "${publicKeyText(alicePrivate)}"`,
      '    privateKeyFile: alice.key',
    ];
    writeFileSync(join(dir, 'gateway.yaml'), config.join('\n') + '\n');
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `meshgate ARGS > out` in a shell with umask 022; returns the file's mode and content. */
  function redirected(args: string[], out: string): { mode: number; text: string } {
    execFileSync('sh', ['-c', 'umask 022; out="$1"; shift; exec node "$@" > "$out"', 'sh', out, bin, ...args]);
    return { mode: statSync(out).mode & 0o777, text: readFileSync(out, 'utf8') };
  }

  it('writes the client file 0600, as genkey and genpsk write theirs', () => {
    const exported = redirected(
      ['gateway', 'export-client', 'alice', '--config', join(dir, 'gateway.yaml')],
      join(dir, 'alice.conf'),
    );
    expect(exported.text).toMatch(/^PrivateKey = [A-Za-z0-9+/]{43}=$/m);
    expect(exported.mode).toBe(0o600);
    expect(redirected(['genkey'], join(dir, 'new.key')).mode).toBe(0o600);
    expect(redirected(['genpsk'], join(dir, 'new.psk')).mode).toBe(0o600);
  });

  it('a shell on its own would have made it 0644 (the test is meaningful)', () => {
    execFileSync('sh', ['-c', 'umask 022; echo x > "$1"', 'sh', join(dir, 'plain')]);
    expect(statSync(join(dir, 'plain')).mode & 0o777).toBe(0o644);
  });
});
