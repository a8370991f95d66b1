// Gateway configuration: one test per kind of mistake (each asserting the one-line
// message names the file and the field, and holds no secret), the happy path with
// defaults (checkHost: host-check.test.ts).

import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCidr, formatIp } from '../shared/net/address.js';
import { formatKey, parseKey } from '../shared/wireguard/keys.js';
import { ConfigError, loadGatewayConfig, readClientPrivateKey, type GatewayConfig } from './config.js';
import { isSafeInterfaceName } from './firewall.js';
import { hostTimeZone, UNLIMITED } from './traffic/policy.js';
import { configFiles, expectOwnKey } from '../test/support/config-files.js';
import { keyPieceIn } from '../test/support/secrets.js';

const files = configFiles('mg-gwconf-', 'gateway', loadGatewayConfig);
const { writeKey, writeConfig, fails } = files;
const { privateKey: gatewayPrivate, publicKey: gatewayPublic } = files.keyPair();
const { privateKey: alicePrivate, publicKey: alicePublic } = files.keyPair();
const alicePsk = files.presharedKey();
const bobPublic = files.keyPair().publicKey;
const carolPublic = files.keyPair().publicKey;
let dir: string;
let gatewayKeyFile: string;
let aliceKeyFile: string;
let alicePskFile: string;

beforeAll(() => {
  dir = files.open();
  gatewayKeyFile = writeKey('gateway.key', gatewayPrivate);
  aliceKeyFile = writeKey('alice.key', alicePrivate);
  alicePskFile = writeKey('alice.psk', alicePsk);
});

afterAll(() => files.close());

/** A minimal valid configuration as data, with overrides. */
function base(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { privateKeyFile: gatewayKeyFile, uplink: 'eth0', ...extra };
}

function client(name: string, publicKey: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, publicKey, ...extra };
}

describe('loadGatewayConfig: happy path', () => {
  it('fills every default into a minimal configuration', () => {
    const file = writeConfig(base());
    const c = loadGatewayConfig(file);
    expectOwnKey(c, { file, privateKey: gatewayPrivate, publicKey: gatewayPublic, privateKeyFile: gatewayKeyFile });
    expect(c.privateKey.buffer.byteLength).toBe(32); // not in the shared Buffer pool
    expect(c.listenPort).toBe(51820);
    expect(c.listenAddresses).toEqual([]);
    expect(c.endpoint).toBeNull();
    expect(c.uplink).toBe('eth0');
    expect(c.interface).toBe('mg0');
    expect(c.mtu).toBe(1420);
    expect(formatCidr(c.ipv4Pool)).toBe('100.64.0.0/16');
    expect(formatIp(c.ipv4Gateway)).toBe('100.64.0.1');
    expect(c.ipv6).toEqual({ mode: 'nat66', pool: null, leasePrefixLength: 128 });
    expect(c.dns).toEqual([]);
    expect(c.leaseLifetime).toBe(3600);
    expect(c.stateDir).toBe('/var/lib/meshgate');
    expect(c.allowPrivate).toEqual([]);
    expect(c.uplinkCapacity).toEqual({ down: null, up: null });
    expect(c.policies).toEqual([]);
    expect(c.defaultPolicy).toBe('unlimited');
    expect(c.accountingZone).toBe(hostTimeZone());
    expect(c.uplinkCheck).toBeNull();
    expect(c.clients).toEqual([]);
  });

  it('reads a full configuration into typed values', () => {
    const text = `# a full gateway configuration
privateKeyFile: gateway.key          # relative: next to this file
listenPort: 51821
listenAddresses: [192.0.2.1, "200:1234::1", "fe80::1%wlan0"]
endpoint: "[2001:db8::1]:51821"
uplink: eth1
interface: mg7
mtu: 1400
ipv4Pool: 100.72.0.0/20
ipv6:
  mode: nat66
  pool: fd12:3456:789a::/48
  leasePrefixLength: 128
dns: [100.72.0.1, 2001:db8::53]
leaseLifetime: 600
stateDir: state
allowPrivate: [192.168.77.0/24, 192.168.77.10, "fe80::/10"]
clients:
  - name: alice
    publicKey: "${alicePublic}"
    presharedKeyFile: alice.psk
    privateKeyFile: ${aliceKeyFile}
    ipv4: 100.72.0.10
    ipv6: fd12:3456:789a::10
  - name: bob.phone_2-x
    publicKey: ${bobPublic}
`;
    const c = loadGatewayConfig(writeConfig(text));
    expect(c.privateKeyFile).toBe(gatewayKeyFile);
    expect(c.listenPort).toBe(51821);
    expect(c.listenAddresses).toEqual(['192.0.2.1', '200:1234::1', 'fe80::1%wlan0']);
    expect(c.endpoint).toBe('[2001:db8::1]:51821');
    expect(c.uplink).toBe('eth1');
    expect(c.interface).toBe('mg7');
    expect(c.mtu).toBe(1400);
    expect(formatCidr(c.ipv4Pool)).toBe('100.72.0.0/20');
    expect(formatIp(c.ipv4Gateway)).toBe('100.72.0.1');
    expect(c.ipv6.mode).toBe('nat66');
    expect(formatCidr(c.ipv6.pool!)).toBe('fd12:3456:789a::/48');
    expect(c.ipv6.leasePrefixLength).toBe(128);
    expect(c.dns.map(formatIp)).toEqual(['100.72.0.1', '2001:db8::53']);
    expect(c.leaseLifetime).toBe(600);
    expect(c.stateDir).toBe(join(dir, 'state'));
    expect(c.allowPrivate.map(formatCidr)).toEqual(['192.168.77.0/24', '192.168.77.10/32', 'fe80::/10']);
    expect(c.clients).toHaveLength(2);
    const [alice, bob] = c.clients as [GatewayConfig['clients'][0], GatewayConfig['clients'][0]];
    expect(alice.name).toBe('alice');
    expect(formatKey(alice.publicKey)).toBe(alicePublic);
    expect(formatKey(alice.presharedKey!)).toBe(alicePsk);
    expect(alice.presharedKeyFile).toBe(alicePskFile);
    expect(alice.privateKeyFile).toBe(aliceKeyFile);
    expect(formatIp(alice.ipv4!)).toBe('100.72.0.10');
    expect(formatIp(alice.ipv6!)).toBe('fd12:3456:789a::10');
    expect(bob).toEqual({
      name: 'bob.phone_2-x',
      publicKey: parseKey(bobPublic),
      presharedKey: null,
      presharedKeyFile: null,
      privateKeyFile: null,
      ipv4: null,
      ipv6: null,
      policy: UNLIMITED,
    });
  });

  it('accepts routed IPv6 with a prefix per client, and a DNS name endpoint', () => {
    const c = loadGatewayConfig(
      writeConfig(
        base({
          endpoint: 'gw.example.net:51820',
          ipv6: { mode: 'routed', pool: '2001:db8:100::/56', leasePrefixLength: 64 },
          clients: [client('alice', alicePublic, { ipv6: '2001:db8:100:5::' })],
        }),
      ),
    );
    expect(c.endpoint).toBe('gw.example.net:51820');
    expect(c.ipv6.mode).toBe('routed');
    expect(c.ipv6.leasePrefixLength).toBe(64);
    expect(formatIp(c.clients[0]!.ipv6!)).toBe('2001:db8:100:5::');
  });

  it('treats an empty file as an empty mapping: the first required field is named', () => {
    fails('', 'privateKeyFile', 'missing', /required, but missing/);
    fails('# nothing yet\n', 'privateKeyFile', 'missing');
  });
});

describe('loadGatewayConfig: mistakes', () => {
  it('a file that cannot be read', () => {
    const file = join(dir, 'absent.yaml');
    expect(() => loadGatewayConfig(file)).toThrow(`${file}: cannot read the file: no such file`);
    const sub = join(dir, 'a-directory.yaml');
    mkdirSync(sub, { recursive: true });
    expect(() => loadGatewayConfig(sub)).toThrow(`${sub}: cannot read the file: it is a directory`);
  });

  it('bad YAML, with the line', () => {
    const file = writeConfig(`privateKeyFile: ${gatewayKeyFile}\nuplink: [eth0\n`);
    expect(() => loadGatewayConfig(file)).toThrow(ConfigError);
    try {
      loadGatewayConfig(file);
    } catch (e) {
      const err = e as ConfigError;
      expect(err.code).toBe('syntax');
      expect(err.message).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}:\\d+: YAML syntax: `));
      expect(err.message).not.toContain('\n');
    }
    fails('uplink: eth0\nuplink: eth1\n', '', 'syntax', /:2: YAML syntax: Map keys must be unique/);
    fails('a: *undefined_anchor\n', '', 'syntax', /YAML/);
    fails('---\nuplink: a\n---\nuplink: b\n', '', 'syntax', /multiple documents/);
  });

  it('an unquoted [IPv6]:port endpoint gets a hint', () => {
    fails(
      `privateKeyFile: ${gatewayKeyFile}\nuplink: eth0\nendpoint: [2001:db8::1]:51820\n`,
      '',
      'syntax',
      /in quotes/,
    );
  });

  it('a document that is not a mapping', () => {
    fails('- a\n- b\n', '', 'type', /expected a mapping of settings/);
    fails('just text\n', '', 'type', /got text/);
  });

  it('a missing required field', () => {
    fails({ privateKeyFile: gatewayKeyFile }, 'uplink', 'missing', /required, but missing/);
    fails(base({ clients: [{ name: 'alice' }] }), 'clients[0].publicKey', 'missing');
    fails(base({ ipv6: { mode: 'routed' } }), 'ipv6.pool', 'missing', /routed/);
  });

  it('a wrong type', () => {
    fails(base({ listenPort: '51820' }), 'listenPort', 'type', /whole number from 1 to 65535, got text/);
    fails(base({ mtu: 1400.5 }), 'mtu', 'type', /whole number/);
    fails(base({ ipv6: 5 }), 'ipv6', 'type', /must be a mapping/);
    fails(base({ clients: { alice: 1 } }), 'clients', 'type', /must be a list, got a mapping/);
    fails(base({ dns: '192.0.2.53' }), 'dns', 'type', /must be a list, got text/);
    fails(base({ uplink: null }), 'uplink', 'type', /got an empty value/);
    fails(base({ uplink: '' }), 'uplink', 'invalid', /must not be empty/);
    fails(base({ clients: [client('alice', alicePublic, { ipv4: 42 })] }), 'clients[0].ipv4', 'type', /must be text/);
    fails(base({ ipv6: { mode: 'nat44' } }), 'ipv6.mode', 'invalid', /one of "nat66", "routed"/);
  });

  it('an unknown field, with a suggestion when close to a real one', () => {
    fails(base({ listenport: 1 }), 'listenport', 'unknown-field', /unknown field \(did you mean listenPort\?\)/);
    fails(base({ ipv6: { prefix: 64 } }), 'ipv6.prefix', 'unknown-field');
    fails(base({ clients: [client('alice', alicePublic, { pubkey: 'x' })] }), 'clients[0].pubkey', 'unknown-field');
    // A secret pasted where it does not belong is never repeated.
    fails(base({ privateKey: gatewayPrivate }), 'privateKey', 'unknown-field');
    const msg = fails(base({ [alicePrivate]: 1 }), '[(a name that may hold a key, not shown)]', 'unknown-field');
    expect(msg).not.toContain(alicePrivate);
  });

  it('a bad key', () => {
    const m = fails(
      base({ clients: [client('alice', alicePublic), client('bob', 'bm90IGEga2V5')] }),
      'clients[1].publicKey',
      'invalid',
      /not a WireGuard key \(44 characters of base64/,
    );
    expect(m).not.toContain('bm90IGEga2V5');
    fails(
      base({ clients: [client('alice', 'A'.repeat(42) + 'B=')] }),
      'clients[0].publicKey',
      'invalid',
      /not a WireGuard key/,
    );
    fails(
      base({ clients: [client('alice', formatKey(new Uint8Array(32)))] }),
      'clients[0].publicKey',
      'invalid',
      /all zeros/,
    );
    const lowOrder = new Uint8Array(32);
    lowOrder[0] = 1; // u = 1 has order 4 on Curve25519: every shared secret is zero
    fails(base({ clients: [client('alice', formatKey(lowOrder))] }), 'clients[0].publicKey', 'invalid', /low-order/);
  });

  it('an unreadable, too open, or wrong key file', () => {
    const absent = join(dir, 'absent.key');
    fails(base({ privateKeyFile: absent }), 'privateKeyFile', 'key-file', new RegExp(`${absent} does not exist`));
    const open = writeKey('open.key', gatewayPrivate, 0o644);
    fails(
      base({ privateKeyFile: open }),
      'privateKeyFile',
      'key-file',
      new RegExp(`${open} has mode 0644: .*chmod 600`),
    );
    const groupOnly = writeKey('group.psk', alicePsk, 0o640);
    fails(
      base({ clients: [client('alice', alicePublic, { presharedKeyFile: groupOnly })] }),
      'clients[0].presharedKeyFile',
      'key-file',
      /mode 0640/,
    );
    const garbage = writeKey('garbage.key', 'this is not a key');
    fails(base({ privateKeyFile: garbage }), 'privateKeyFile', 'key-file', /does not hold a WireGuard key/);
    const big = writeKey('big.key', 'A'.repeat(4096));
    fails(base({ privateKeyFile: big }), 'privateKeyFile', 'key-file', /too large/);
    fails(base({ privateKeyFile: dir }), 'privateKeyFile', 'key-file', /not a regular file/);
    // A stock client's key file is checked at load, though not read.
    fails(
      base({ clients: [client('alice', alicePublic, { privateKeyFile: open })] }),
      'clients[0].privateKeyFile',
      'key-file',
      /mode 0644/,
    );
    fails(
      base({ clients: [client('alice', alicePublic, { privateKeyFile: absent })] }),
      'clients[0].privateKeyFile',
      'key-file',
      /does not exist/,
    );
  });

  it("keeps no stock client's private key in memory: only export-client reads it (Hardening #11c)", () => {
    const c = loadGatewayConfig(
      writeConfig(base({ clients: [client('alice', alicePublic, { privateKeyFile: aliceKeyFile })] })),
    );
    const secret = parseKey(alicePrivate);
    /** Every byte array reachable from the configuration. */
    const arrays: Uint8Array[] = [];
    const walk = (v: unknown): void => {
      if (v instanceof Uint8Array) arrays.push(v);
      else if (typeof v === 'object' && v !== null) Object.values(v).forEach(walk);
    };
    walk(c);
    expect(arrays.length).toBeGreaterThan(3);
    expect(arrays.some((a) => Buffer.from(a).equals(Buffer.from(secret)))).toBe(false);
    expect(c.clients[0]!.privateKeyFile).toBe(aliceKeyFile);
    // export-client reads it on demand, in memory of its own, and checks it belongs to the client.
    const key = readClientPrivateKey(c, c.clients[0]!);
    expect(formatKey(key)).toBe(alicePrivate);
    expect(key.buffer.byteLength).toBe(32);
    const mixedUp = loadGatewayConfig(
      writeConfig(base({ clients: [client('bob', bobPublic, { privateKeyFile: aliceKeyFile })] })),
    );
    expect(() => readClientPrivateKey(mixedUp, mixedUp.clients[0]!)).toThrow(
      new RegExp(`: clients\\[0\\]\\.privateKeyFile: ${aliceKeyFile} is the private key of another public key`),
    );
  });

  it('a key file that is a symbolic link, a FIFO, or of another user (Hardening #12)', () => {
    const link = join(dir, 'link.key');
    symlinkSync(gatewayKeyFile, link);
    fails(base({ privateKeyFile: link }), 'privateKeyFile', 'key-file', new RegExp(`${link} is a symbolic link`));
    const fifo = join(dir, 'fifo.psk');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    fails(
      base({ clients: [client('alice', alicePublic, { presharedKeyFile: fifo })] }),
      'clients[0].presharedKeyFile',
      'key-file',
      new RegExp(`${fifo} is a FIFO \\(named pipe\\), not a regular file$`),
    );
    if (process.geteuid?.() === 0) {
      const theirs = writeKey('theirs.key', alicePrivate);
      chownSync(theirs, 65534, 65534);
      fails(
        base({ clients: [client('alice', alicePublic, { privateKeyFile: theirs })] }),
        'clients[0].privateKeyFile',
        'key-file',
        /is owned by uid 65534, not by us/,
      );
    }
  });

  it("duplicate client names and keys, and the gateway's own key", () => {
    fails(
      base({
        clients: [
          client('alice', alicePublic),
          client('bob', bobPublic),
          client('carol', carolPublic),
          client('bob', files.keyPair().publicKey),
        ],
      }),
      'clients[3].name',
      'duplicate',
      /"bob" is used by clients\[1\] too/,
    );
    fails(
      base({ clients: [client('alice', alicePublic), client('bob', alicePublic)] }),
      'clients[1].publicKey',
      'duplicate',
      /is the key of clients\[0\] too/,
    );
    fails(
      base({ clients: [client('gw', gatewayPublic)] }),
      'clients[0].publicKey',
      'conflict',
      /gateway's own public key/,
    );
    fails(base({ clients: [client('alice smith', alicePublic)] }), 'clients[0].name', 'invalid', /not a client name/);
    fails(base({ clients: [client('x'.repeat(33), alicePublic)] }), 'clients[0].name', 'invalid');
    const m = fails(base({ clients: [client(alicePrivate, alicePublic)] }), 'clients[0].name', 'invalid');
    expect(m).toContain('not shown');
  });

  it("fixed addresses: outside the pool, reserved, the gateway's, duplicated", () => {
    const one = (extra: Record<string, unknown>) => base({ clients: [client('alice', alicePublic, extra)] });
    fails(
      one({ ipv4: '100.65.0.10' }),
      'clients[0].ipv4',
      'conflict',
      /100\.65\.0\.10 is outside ipv4Pool 100\.64\.0\.0\/16/,
    );
    fails(one({ ipv4: '100.64.0.1' }), 'clients[0].ipv4', 'conflict', /gateway's own address/);
    fails(one({ ipv4: '100.64.0.0' }), 'clients[0].ipv4', 'conflict', /network address/);
    fails(one({ ipv4: '100.64.255.255' }), 'clients[0].ipv4', 'conflict', /broadcast address/);
    fails(one({ ipv4: 'fd00::1' }), 'clients[0].ipv4', 'invalid', /not an IPv4 address/);
    fails(one({ ipv4: '100.64.0.300' }), 'clients[0].ipv4', 'invalid', /"100\.64\.0\.300" is not an IPv4 address/);
    fails(
      base({
        clients: [
          client('alice', alicePublic, { ipv4: '100.64.0.10' }),
          client('bob', bobPublic, { ipv4: '100.64.0.10' }),
        ],
      }),
      'clients[1].ipv4',
      'duplicate',
      /100\.64\.0\.10 is the fixed address of clients\[0\] too/,
    );
    const v6 = (extra: Record<string, unknown>, leasePrefixLength = 128) =>
      base({
        ipv6: { pool: 'fd12:3456:789a::/48', leasePrefixLength },
        clients: [client('alice', alicePublic, extra)],
      });
    fails(v6({ ipv6: 'fd12:3456:789b::10' }), 'clients[0].ipv6', 'conflict', /outside ipv6\.pool fd12:3456:789a::\/48/);
    fails(v6({ ipv6: 'fd12:3456:789a::1' }), 'clients[0].ipv6', 'conflict', /gateway's own address/);
    fails(
      v6({ ipv6: 'fd12:3456:789a::5' }, 64),
      'clients[0].ipv6',
      'invalid',
      /host bits set \(did you mean fd12:3456:789a::\?\)/,
    );
    fails(v6({ ipv6: 'fd12:3456:789a::' }, 64), 'clients[0].ipv6', 'conflict', /holds the gateway's own address/);
    fails(
      base({ clients: [client('alice', alicePublic, { ipv6: 'fd12:3456:789a::10' })] }),
      'clients[0].ipv6',
      'conflict',
      /needs ipv6\.pool/,
    );
    fails(
      base({
        ipv6: { pool: 'fd12:3456:789a::/48' },
        clients: [
          client('alice', alicePublic, { ipv6: 'fd12:3456:789a::10' }),
          client('bob', bobPublic, { ipv6: 'fd12:3456:789a:0::10' }),
        ],
      }),
      'clients[1].ipv6',
      'duplicate',
    );
  });

  it('overlapping or misplaced pools and prefixes', () => {
    fails(
      base({ allowPrivate: ['192.168.77.0/24', '100.64.0.0/10'] }),
      'allowPrivate[1]',
      'conflict',
      /100\.64\.0\.0\/10 overlaps ipv4Pool 100\.64\.0\.0\/16/,
    );
    fails(
      base({ ipv6: { pool: 'fd12:3456:789a::/48' }, allowPrivate: ['fd12:3456:789a:1::/64'] }),
      'allowPrivate[0]',
      'conflict',
      /overlaps ipv6\.pool/,
    );
    fails(base({ allowPrivate: ['fd00::/8'] }), 'allowPrivate[0]', 'conflict', /where the IPv6 pool is generated/);
    fails(
      base({ ipv6: { pool: '2001:db8::/48' } }),
      'ipv6.pool',
      'invalid',
      /not a unique local prefix inside fd00::\/8/,
    );
    fails(base({ ipv6: { pool: 'fc00::/48' } }), 'ipv6.pool', 'invalid', /unique local/);
    fails(base({ ipv6: { mode: 'routed', pool: '200:1::/48' } }), 'ipv6.pool', 'conflict', /Yggdrasil/);
    fails(base({ ipv4Pool: '127.0.0.0/16' }), 'ipv4Pool', 'conflict', /loopback/);
    fails(base({ ipv4Pool: '224.1.0.0/16' }), 'ipv4Pool', 'conflict', /multicast/);
    fails(
      base({ ipv4Pool: '100.64.0.5/16' }),
      'ipv4Pool',
      'invalid',
      /host bits set \(did you mean 100\.64\.0\.0\/16\?\)/,
    );
    fails(base({ ipv4Pool: '100.64.0.0' }), 'ipv4Pool', 'invalid', /not a prefix/);
    fails(base({ ipv4Pool: 'fd00::/48' }), 'ipv4Pool', 'invalid', /not an IPv4 prefix/);
    fails(base({ ipv6: { pool: '100.64.0.0/16' } }), 'ipv6.pool', 'invalid', /not an IPv6 prefix/);
    fails(base({ listenAddresses: ['100.64.3.3'] }), 'listenAddresses[0]', 'conflict', /inside ipv4Pool/);
    fails(base({ endpoint: '100.64.0.1:51820' }), 'endpoint', 'conflict', /inside ipv4Pool/);
    fails(
      base({ dns: ['100.64.0.53'] }),
      'dns[0]',
      'conflict',
      /client address in the pool; use the gateway's 100\.64\.0\.1/,
    );
  });

  it('a bad endpoint', () => {
    fails(base({ endpoint: 'gw.example.net' }), 'endpoint', 'invalid', /host:port/);
    fails(base({ endpoint: '2001:db8::1:51820' }), 'endpoint', 'invalid', /needs brackets/);
    fails(base({ endpoint: '192.0.2.1:70000' }), 'endpoint', 'invalid', /port/);
    fails(base({ endpoint: '192.0.2.1:0' }), 'endpoint', 'invalid', /port/);
    fails(
      base({ endpoint: '192.0.2.300:51820' }),
      'endpoint',
      'invalid',
      /"192\.0\.2\.300" is not an IPv4 or IPv6 address/,
    );
    fails(base({ endpoint: 'gw_1.example:51820' }), 'endpoint', 'invalid');
    fails(base({ endpoint: '[192.0.2.1]:51820' }), 'endpoint', 'invalid', /brackets are only for IPv6/);
    fails(base({ endpoint: '[2001:db8::1%eth0]:51820' }), 'endpoint', 'invalid', /zone/);
  });

  it('a bad address, CIDR or name', () => {
    fails(base({ allowPrivate: ['192.168.77.0/33'] }), 'allowPrivate[0]', 'invalid', /not an IP prefix/);
    fails(base({ allowPrivate: ['192.168.77.1/24'] }), 'allowPrivate[0]', 'invalid', /host bits set/);
    fails(base({ allowPrivate: ['lan'] }), 'allowPrivate[0]', 'invalid', /"lan" is not an IP prefix/);
    fails(
      base({ allowPrivate: ['192.168.77.0/24', '192.168.77.0/24'] }),
      'allowPrivate[1]',
      'duplicate',
      /allowPrivate\[0\]/,
    );
    fails(base({ dns: ['dns.example'] }), 'dns[0]', 'invalid', /not an IP address/);
    fails(base({ dns: ['192.0.2.53', '192.0.2.53'] }), 'dns[1]', 'duplicate');
    fails(base({ listenAddresses: ['192.0.2.1%eth0'] }), 'listenAddresses[0]', 'invalid', /link-local/);
    fails(base({ listenAddresses: ['192.0.2.1', '192.0.2.1'] }), 'listenAddresses[1]', 'duplicate');
    fails(base({ interface: 'mg0-much-too-long' }), 'interface', 'invalid', /not an interface name/);
    fails(base({ uplink: 'eth 0' }), 'uplink', 'invalid');
    fails(base({ interface: 'eth0' }), 'interface', 'conflict', /also the uplink/);
  });

  it('refuses every interface name the TUN, ip or nft cannot use, before the host is asked anything', () => {
    // "mg+0" once passed the loader; the firewall refused it after the daemon had changed the host.
    for (const name of ['mg+0', 'mg=0', 'mg*', 'mg"0', 'mg:0', 'mg/0', '.', '..', 'ümlaut0']) {
      fails(
        base({ interface: name }),
        'interface',
        'invalid',
        /is not an interface name \(1-15 of A-Z a-z 0-9 _ \. -\)/,
      );
      fails(base({ uplink: name }), 'uplink', 'invalid', /is not an interface name/);
    }
    // What the loader accepts, the firewall renders.
    for (const name of ['mg0', 'mg_0', 'mg-0.1', 'A23456789012345']) {
      expect(loadGatewayConfig(writeConfig(base({ interface: name }))).interface).toBe(name);
      expect(isSafeInterfaceName(name)).toBe(true);
    }
  });

  it('out-of-range numbers and sizes', () => {
    fails(base({ mtu: 10000 }), 'mtu', 'range', /from 1280 to 9000, got 10000/);
    fails(base({ mtu: 1000 }), 'mtu', 'range', /from 1280 to 9000/);
    fails(base({ listenPort: 0 }), 'listenPort', 'range', /from 1 to 65535, got 0/);
    fails(base({ listenPort: 65536 }), 'listenPort', 'range');
    fails(base({ leaseLifetime: 30 }), 'leaseLifetime', 'range', /from 60 to 604800/);
    fails(base({ leaseLifetime: 604801 }), 'leaseLifetime', 'range');
    fails(base({ ipv4Pool: '100.64.0.0/31' }), 'ipv4Pool', 'range', /\/8 to \/30, got \/31/);
    fails(base({ ipv4Pool: '100.0.0.0/7' }), 'ipv4Pool', 'range');
    fails(base({ ipv6: { pool: 'fd12:3456:789a::/64', leasePrefixLength: 64 } }), 'ipv6.pool', 'range', /\/63/);
    fails(base({ ipv6: { leasePrefixLength: 96 } }), 'ipv6.leasePrefixLength', 'invalid', /one of 128, 64, got 96/);
    fails(base({ dns: Array.from({ length: 9 }, (_, i) => `192.0.2.${i + 1}`) }), 'dns', 'range', /at most 8/);
  });
});

describe('loadGatewayConfig: uplinkCheck', () => {
  it('reads IP-literal targets in canonical form, interval default 5 s', () => {
    const c = loadGatewayConfig(
      writeConfig(base({ uplinkCheck: { targets: ['198.51.100.1:80', '[2001:DB8:100::0001]:443'] } })),
    );
    expect(c.uplinkCheck).toEqual({
      targets: [
        { host: '198.51.100.1', port: 80, text: '198.51.100.1:80' },
        { host: '2001:db8:100::1', port: 443, text: '[2001:DB8:100::0001]:443' },
      ],
      interval: 5,
    });
    const eight = Array.from({ length: 8 }, (_, i) => `203.0.113.${i + 1}:53`);
    expect(
      loadGatewayConfig(writeConfig(base({ uplinkCheck: { targets: eight, interval: 300 } }))).uplinkCheck,
    ).toMatchObject({ interval: 300 });
    expect(
      loadGatewayConfig(writeConfig(base({ uplinkCheck: { targets: ['192.0.2.1:80'], interval: 1 } }))).uplinkCheck,
    ).toMatchObject({ targets: [{ host: '192.0.2.1', port: 80 }], interval: 1 });
  });

  it('a bad target: a DNS name, no port, a bad port, a zone, unbracketed IPv6, twice the same', () => {
    const target = (t: string) => base({ uplinkCheck: { targets: ['198.51.100.1:80', t] } });
    fails(target('example.net:80'), 'uplinkCheck.targets[1]', 'invalid', /not an IP address and port \(no DNS names/);
    fails(target('198.51.100.1'), 'uplinkCheck.targets[1]', 'invalid', /host:port/);
    fails(target('198.51.100.1:0'), 'uplinkCheck.targets[1]', 'invalid', /port/);
    fails(target('198.51.100.1:65536'), 'uplinkCheck.targets[1]', 'invalid', /port/);
    fails(target('[fe80::1%eth0]:80'), 'uplinkCheck.targets[1]', 'invalid', /no %zone/);
    fails(target('2001:db8::1:80'), 'uplinkCheck.targets[1]', 'invalid', /needs brackets/);
    fails(target('198.51.100.001:80'), 'uplinkCheck.targets[1]', 'invalid');
    fails(target('198.51.100.1:80'), 'uplinkCheck.targets[1]', 'duplicate', /uplinkCheck\.targets\[0\]/);
  });

  it('none or too many targets, a bad interval, an unknown field', () => {
    const nine = Array.from({ length: 9 }, (_, i) => `203.0.113.${i + 1}:53`);
    fails(base({ uplinkCheck: { targets: nine } }), 'uplinkCheck.targets', 'range', /at most 8/);
    fails(base({ uplinkCheck: { targets: [] } }), 'uplinkCheck.targets', 'invalid', /length/);
    fails(base({ uplinkCheck: {} }), 'uplinkCheck.targets', 'missing');
    const at = (interval: unknown) => base({ uplinkCheck: { targets: ['198.51.100.1:80'], interval } });
    fails(at(0), 'uplinkCheck.interval', 'range', /from 1 to 300, got 0/);
    fails(at(301), 'uplinkCheck.interval', 'range');
    fails(at(1.5), 'uplinkCheck.interval', 'type');
    fails(at('5s'), 'uplinkCheck.interval', 'type');
    fails(base({ uplinkCheck: { targets: ['198.51.100.1:80'], timeout: 2 } }), 'uplinkCheck.timeout', 'unknown-field');
  });
});

describe('loadGatewayConfig: no key material in any message (Hardening #3)', () => {
  /** A key with '/' in it, cutting it into short runs. */
  const SLASHED = 'aB3dE5gH9jK1m/Op2rS4tU6w/Xz8Ab0Cd2Ef4Gh6Ij8=';

  /** Configurations with `key` where it does not belong, each refused. */
  function mistakes(key: string): (string | Record<string, unknown>)[] {
    const yamlBase = `privateKeyFile: ${gatewayKeyFile}\nuplink: eth0\n`;
    return [
      base({ privateKeyFile: key }), // the key inline, where its file belongs
      base({ privateKeyFile: `./${key}` }),
      base({ privateKeyFile: key.slice(0, -1) }),
      base({ clients: [client('alice', alicePublic, { privateKeyFile: key })] }),
      base({ clients: [client('alice', alicePublic, { presharedKeyFile: key })] }),
      base({ privateKey: key }), // an unknown field holding a key
      base({ privatekeyfile: key }),
      base({ [key]: 1 }), // a key as a field name
      base({ [key.slice(0, -1)]: 1 }),
      base({ [key.slice(0, 40)]: 1 }),
      base({ clients: [client('alice', alicePublic, { [key]: 'x' })] }),
      base({ clients: [client('alice', alicePublic, { privateKey: key })] }),
      base({ clients: [client('alice', `${key} x`)] }), // a public key field with garbage
      base({ clients: [client('alice', key.slice(0, 40) + '=')] }), // base64 of a wrong length
      base({ clients: [client(key, alicePublic)] }), // a key as a name
      base({ clients: [client(key.slice(0, 30), alicePublic), client(key.slice(0, 30), bobPublic)] }),
      base({ uplink: key }),
      base({ interface: key }),
      base({ endpoint: key }),
      base({ endpoint: `${key}:51820` }),
      base({ endpoint: `[${key}]:51820` }),
      base({ listenAddresses: [key] }),
      base({ listenAddresses: [`fe80::1%${key}`] }),
      base({ dns: [key] }),
      base({ ipv4Pool: key }),
      base({ ipv4Pool: `${key}/16` }),
      base({ ipv6: { pool: key } }),
      base({ ipv6: { mode: key } }),
      base({ allowPrivate: [key] }),
      base({ clients: [client('alice', alicePublic, { ipv4: key })] }),
      base({ clients: [client('alice', alicePublic, { ipv6: key })] }),
      base({ mtu: key }),
      `${yamlBase}PrivateKey ${key}\n`, // YAML mistakes around a key
      `PrivateKey ${key}\n${yamlBase}`,
      `${yamlBase}privateKey: [${key}\n`,
      `${yamlBase}endpoint: "${key}\n`,
      `${yamlBase}endpoint: *${key.slice(0, 30)}\n`,
      `${yamlBase}${key}: 1\n${key}: 2\n`,
      `${yamlBase}clients:\n  - name: a\n ${key}\n`,
      `${key}\n`,
    ];
  }

  it('names the field, never the value, whatever the mistake', () => {
    for (const key of [alicePrivate, alicePsk, SLASHED]) {
      for (const content of mistakes(key)) {
        const { file, error, shown } = files.thrown(content);
        const message = error.message;
        expect(message.startsWith(file), shown).toBe(true);
        expect(keyPieceIn(message, key), `${shown}\n→ ${message}`).toBeUndefined();
      }
    }
  });

  it('says what is wrong in a way still useful without the value', () => {
    fails(
      base({ privateKeyFile: alicePrivate }),
      'privateKeyFile',
      'key-file',
      /\(a file name that may hold a key, not shown\)/,
    );
    fails(base({ [alicePrivate]: 1 }), '[(a name that may hold a key, not shown)]', 'unknown-field');
    fails(
      base({ uplink: alicePrivate }),
      'uplink',
      'invalid',
      /\(a value that may hold a key, not shown\) is not an interface name/,
    );
    fails(
      `privateKeyFile: x\nuplink: eth0\na: *${alicePrivate.slice(0, 30)}\n`,
      '',
      'syntax',
      /^\S+: YAML: the document cannot be built$/,
    );
  });
});
