// The wg-quick parser: a full file as wg-quick(8) reads it, the keys meshgate
// acts on (Table and FwMark included), the host-scripting keys it reports as
// ignored, and one test per kind of mistake, each naming file and line.
import { describe, expect, it } from 'vitest';
import { formatCidr } from '../wireguard/allowed-ips.js';
import { formatKey } from '../wireguard/keys.js';
import { ConfigError, parseWgQuick } from './wg-quick.js';

const PRIVATE = 'qPZ4oLZHxZtcUfL3kzgSYD66ztKdPcfnCHeuUvRzBVw=';
const PEER1 = 'Mx8Nbwx5gZ6kEulXxSXMIkuN3Q6v/yJfYOKqMf0oCRs=';
const PEER2 = 'FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=';

const FULL = `# a full-tunnel client, as export-client writes it
[Interface]
PrivateKey = ${PRIVATE}
Address = 100.64.0.10/32, fd12:3456:789a::10/128
DNS = 100.64.0.1
MTU = 1380
ListenPort = 51821
PostUp = echo up   # reported, never run

[Peer]
PublicKey = ${PEER1}
PresharedKey = ${PEER2}
AllowedIPs = 0.0.0.0/0, ::/0
Endpoint = [200:1234:5678::1]:51820
PersistentKeepalive = 25

[peer]
publickey = ${PEER2}
allowedips = 10.0.0.0/8
endpoint = gw.example.net:51820
`;

function fails(text: string, pattern: RegExp): void {
  expect(() => parseWgQuick(text, 'wg9.conf')).toThrow(ConfigError);
  expect(() => parseWgQuick(text, 'wg9.conf')).toThrow(pattern);
}

const iface = (extra: string) => `[Interface]\nPrivateKey = ${PRIVATE}\n${extra}\n`;

describe('parseWgQuick', () => {
  it('reads a full file with two peers; keys are case-insensitive, comments stripped', () => {
    const c = parseWgQuick(FULL, 'wg0.conf');
    expect(formatKey(c.interface.privateKey)).toBe(PRIVATE);
    expect(c.interface.addresses.map(formatCidr)).toEqual(['100.64.0.10/32', 'fd12:3456:789a::10/128']);
    expect([c.interface.mtu, c.interface.listenPort, c.interface.fwMark, c.interface.table]).toEqual([
      1380,
      51821,
      null,
      'auto',
    ]);
    expect(c.ignored).toEqual(['DNS (line 5)', 'PostUp (line 8)']);
    expect(c.peers).toHaveLength(2);
    const [a, b] = c.peers;
    expect(formatKey(a!.publicKey)).toBe(PEER1);
    expect(formatKey(a!.presharedKey!)).toBe(PEER2);
    expect(a!.allowedIps.map(formatCidr)).toEqual(['0.0.0.0/0', '::/0']);
    expect([a!.endpoint, a!.persistentKeepalive, a!.line]).toEqual(['[200:1234:5678::1]:51820', 25, 10]);
    expect([b!.endpoint, b!.persistentKeepalive, b!.presharedKey]).toEqual(['gw.example.net:51820', 0, null]);
  });

  it('Table: auto (default), off, or a table number; FwMark in decimal or 0x hex, or off', () => {
    expect(parseWgQuick(iface('Table = off'), 'x').interface.table).toBe('off');
    expect(parseWgQuick(iface('Table = auto'), 'x').interface.table).toBe('auto');
    expect(parseWgQuick(iface('Table = 1234'), 'x').interface.table).toBe(1234);
    expect(parseWgQuick(iface('FwMark = 51820'), 'x').interface.fwMark).toBe(51820);
    expect(parseWgQuick(iface('FwMark = 0xca6c'), 'x').interface.fwMark).toBe(0xca6c);
    expect(parseWgQuick(iface('FwMark = off'), 'x').interface.fwMark).toBeNull();
  });

  it('refuses each kind of mistake with file and line', () => {
    fails('', /^wg9\.conf: no \[Interface\] section$/);
    fails('[Interface]\nMTU = 1420\n', /^wg9\.conf: \[Interface\] has no PrivateKey$/);
    fails('PrivateKey = x\n', /^wg9\.conf:1: PrivateKey outside of a section$/);
    fails('[Interface]\n[Interface]\n', /^wg9\.conf:2: a second \[Interface\] section$/);
    fails('[Wireguard]\n', /^wg9\.conf:1: unknown section \[Wireguard\]$/);
    fails(iface('Colour = blue'), /^wg9\.conf:3: unknown key Colour in \[Interface\]$/);
    fails(iface('just words'), /^wg9\.conf:3: expected "Key = Value"/);
    fails('[Interface]\nPrivateKey = abc\n', /^wg9\.conf:2: PrivateKey: /);
    fails(iface('ListenPort = 70000'), /:3: ListenPort must be 0\.\.65535/);
    fails(iface('MTU = 100'), /:3: MTU must be 576\.\.65535/);
    fails(iface('FwMark = 0x1g'), /:3: bad FwMark "0x1g"/);
    fails(iface('Table = main'), /:3: Table must be off, auto or a table number, got "main"/);
    fails(iface('Address = 10.0.0.1/33'), /:3: Address: /);
    fails(iface('[Peer]\nAllowedIPs = 10.0.0.0/8'), /:3: \[Peer\] has no PublicKey/);
    fails(iface(`[Peer]\nPublicKey = ${PEER1}\nAllowedIPs = 10.0.0.0/40`), /:5: AllowedIPs: /);
    fails(iface(`[Peer]\nPublicKey = ${PEER1}\nEndpoint = 192.0.2.1`), /:5: Endpoint must be host:port/);
    fails(iface(`[Peer]\nPublicKey = ${PEER1}\nPersistentKeepalive = -1`), /:5: PersistentKeepalive must be/);
    fails(iface(`[Peer]\nPublicKey = ${PEER1}\nName = bob`), /:5: unknown key Name in \[Peer\]/);
    fails(iface(`[Peer]\nPublicKey = ${PEER1}\n[Peer]\nPublicKey = ${PEER1}`), /:5: peer \S+ appears twice/);
  });
});
