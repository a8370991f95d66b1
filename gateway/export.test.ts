// The exported wg-quick file: golden text, read back by the project's own parser,
// and by the real `wg-quick strip` (wireguard-tools) where it is installed.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWgQuick } from '../shared/config/wg-quick.js';
import { formatCidr, parseIp } from '../shared/net/address.js';
import { formatKey, parseKey } from '../shared/wireguard/keys.js';
import { renderClientConfig, type ClientExport } from './export.js';

const CLIENT_PRIVATE = 'qPZ4oLZHxZtcUfL3kzgSYD66ztKdPcfnCHeuUvRzBVw=';
const GATEWAY_PUBLIC = 'Mx8Nbwx5gZ6kEulXxSXMIkuN3Q6v/yJfYOKqMf0oCRs=';
const PSK = 'FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=';

function options(extra: Partial<ClientExport> = {}): ClientExport {
  return {
    clientPrivateKey: parseKey(CLIENT_PRIVATE),
    lease: { ipv4: parseIp('100.64.0.10'), ipv6: parseIp('fd12:3456:789a::10'), ipv6PrefixLength: 128 },
    gatewayPublicKey: parseKey(GATEWAY_PUBLIC),
    presharedKey: parseKey(PSK),
    endpoint: 'gw.example.net:51820',
    dns: [parseIp('100.64.0.1'), parseIp('fd12:3456:789a::1')],
    mtu: 1420,
    ...extra,
  };
}

describe('renderClientConfig', () => {
  it('renders the golden text', () => {
    expect(renderClientConfig(options())).toBe(`# WireGuard client configuration exported by a meshgate gateway.
# It holds the private key of this client: keep it secret (mode 0600).
[Interface]
PrivateKey = ${CLIENT_PRIVATE}
Address = 100.64.0.10/32, fd12:3456:789a::10/128
DNS = 100.64.0.1, fd12:3456:789a::1
MTU = 1420

[Peer]
PublicKey = ${GATEWAY_PUBLIC}
PresharedKey = ${PSK}
AllowedIPs = 0.0.0.0/0, ::/0
Endpoint = gw.example.net:51820
PersistentKeepalive = 25
`);
  });

  it("reads back with the project's wg-quick parser", () => {
    const config = parseWgQuick(renderClientConfig(options()), 'client.conf');
    expect(formatKey(config.interface.privateKey)).toBe(CLIENT_PRIVATE);
    expect(config.interface.addresses.map(formatCidr)).toEqual(['100.64.0.10/32', 'fd12:3456:789a::10/128']);
    expect(config.interface.mtu).toBe(1420);
    expect(config.ignored).toEqual(['DNS (line 6)']);
    expect(config.peers).toHaveLength(1);
    const peer = config.peers[0]!;
    expect(formatKey(peer.publicKey)).toBe(GATEWAY_PUBLIC);
    expect(formatKey(peer.presharedKey!)).toBe(PSK);
    expect(peer.allowedIps.map(formatCidr)).toEqual(['0.0.0.0/0', '::/0']);
    expect(peer.endpoint).toBe('gw.example.net:51820');
    expect(peer.persistentKeepalive).toBe(25);
  });

  it('leaves out DNS without servers, PresharedKey without a key, keepalive when off', () => {
    const text = renderClientConfig(options({ dns: [], presharedKey: undefined, persistentKeepalive: 0 }));
    expect(text).not.toMatch(/^DNS/m);
    expect(text).not.toMatch(/^PresharedKey/m);
    expect(text).not.toMatch(/^PersistentKeepalive/m);
    const config = parseWgQuick(text, 'client.conf');
    expect(config.peers[0]!.presharedKey).toBeNull();
    expect(config.peers[0]!.persistentKeepalive).toBe(0);
    expect(renderClientConfig(options({ persistentKeepalive: 60 }))).toMatch(/^PersistentKeepalive = 60$/m);
  });

  it('gives a /64 lease its first host address, and keeps an explicit one', () => {
    const prefix = { ipv4: parseIp('100.64.0.10'), ipv6: parseIp('fd12:3456:789a:5::'), ipv6PrefixLength: 64 };
    expect(renderClientConfig(options({ lease: prefix }))).toMatch(
      /^Address = 100\.64\.0\.10\/32, fd12:3456:789a:5::1\/64$/m,
    );
    const host = { ...prefix, ipv6: parseIp('fd12:3456:789a:5::77') };
    expect(renderClientConfig(options({ lease: host }))).toMatch(
      /^Address = 100\.64\.0\.10\/32, fd12:3456:789a:5::77\/64$/m,
    );
  });

  it('writes IPv6 and mesh endpoints in brackets as given', () => {
    expect(renderClientConfig(options({ endpoint: '[200:1234::1]:51820' }))).toMatch(
      /^Endpoint = \[200:1234::1\]:51820$/m,
    );
    expect(renderClientConfig(options({ endpoint: ' 192.0.2.1:51820 ' }))).toMatch(/^Endpoint = 192\.0\.2\.1:51820$/m);
  });

  it('refuses inconsistent input', () => {
    expect(() => renderClientConfig(options({ endpoint: '2001:db8::1:51820' }))).toThrow(/endpoint: .*brackets/);
    expect(() => renderClientConfig(options({ endpoint: 'gw.example.net' }))).toThrow(RangeError);
    expect(() => renderClientConfig(options({ mtu: 100 }))).toThrow(/mtu must be 1280\.\.9000/);
    expect(() => renderClientConfig(options({ persistentKeepalive: 70000 }))).toThrow(/persistentKeepalive/);
    expect(() => renderClientConfig(options({ lease: { ...options().lease, ipv4: parseIp('fd00::1') } }))).toThrow(
      /lease\.ipv4/,
    );
    expect(() => renderClientConfig(options({ lease: { ...options().lease, ipv6PrefixLength: 129 } }))).toThrow(
      /ipv6PrefixLength/,
    );
    expect(() => renderClientConfig(options({ dns: [new Uint8Array(5)] }))).toThrow(/DNS/);
    expect(() => renderClientConfig(options({ clientPrivateKey: new Uint8Array(31) }))).toThrow(RangeError);
  });
});

const WG_QUICK = ['/usr/bin/wg-quick', '/bin/wg-quick'].find((p) => existsSync(p));

describe.skipIf(WG_QUICK === undefined || process.getuid?.() !== 0)('wg-quick strip (wireguard-tools)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mg-export-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** `wg-quick strip` of the rendered text: the part `wg setconf` reads. Reads a file, changes nothing. */
  function strip(text: string): string {
    const file = join(dir, 'mgexp0.conf');
    writeFileSync(file, text, { mode: 0o600 });
    return execFileSync(WG_QUICK!, ['strip', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  it('accepts the file and leaves exactly the wg(8) keys', () => {
    const stripped = strip(renderClientConfig(options()));
    const keys = stripped
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => (l.startsWith('[') ? l : l.split('=')[0]!.trim()));
    expect(keys).toEqual([
      '[Interface]',
      'PrivateKey',
      '[Peer]',
      'PublicKey',
      'PresharedKey',
      'AllowedIPs',
      'Endpoint',
      'PersistentKeepalive',
    ]);
    // What remains is a valid wg(8) configuration with the same keys and peer.
    const config = parseWgQuick(stripped, 'stripped.conf');
    expect(formatKey(config.interface.privateKey)).toBe(CLIENT_PRIVATE);
    expect(config.interface.addresses).toEqual([]);
    expect(formatKey(config.peers[0]!.publicKey)).toBe(GATEWAY_PUBLIC);
    expect(formatKey(config.peers[0]!.presharedKey!)).toBe(PSK);
    expect(config.peers[0]!.allowedIps.map(formatCidr)).toEqual(['0.0.0.0/0', '::/0']);
  });

  it('accepts random keys, leases and endpoints', () => {
    for (let i = 0; i < 5; i++) {
      const r = randomBytes(8);
      const text = renderClientConfig(
        options({
          clientPrivateKey: randomBytes(32),
          gatewayPublicKey: randomBytes(32),
          presharedKey: i % 2 === 0 ? randomBytes(32) : undefined,
          lease: {
            ipv4: Uint8Array.from([100, 64 + (r[0]! & 63), r[1]!, r[2]! | 2]),
            ipv6: Uint8Array.from([0xfd, ...randomBytes(15)]),
            ipv6PrefixLength: i % 2 === 0 ? 128 : 64,
          },
          endpoint: i % 2 === 0 ? `[200:${r[3]!.toString(16)}::1]:${1 + r[4]!}` : `198.51.100.${r[5]}:51820`,
          dns: i % 3 === 0 ? [] : [parseIp('100.64.0.1')],
          persistentKeepalive: i,
        }),
      );
      const stripped = strip(text);
      expect(stripped).toMatch(/^PrivateKey = /m);
      expect(stripped).not.toMatch(/^(Address|DNS|MTU)/m);
      expect(() => parseWgQuick(stripped, 'stripped.conf')).not.toThrow();
    }
  });
});
