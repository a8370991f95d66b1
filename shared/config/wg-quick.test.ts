// The wg-quick parser: a full file as wg-quick(8) reads it, the keys meshgate
// acts on (Table and FwMark included), the host-scripting keys it reports as
// ignored, and one test per kind of mistake, each naming file and line.
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatCidr } from '../net/address.js';
import { formatKey } from '../wireguard/keys.js';
import { inSharedPool, keyPieceIn } from '../../test/support/secrets.js';
import { ConfigError, loadWgQuickFile, parseWgQuick } from './wg-quick.js';

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

/** A key with '/' in it, cutting it into short runs. */
const SLASHED = 'aB3dE5gH9jK1m/Op2rS4tU6w/Xz8Ab0Cd2Ef4Gh6Ij8=';

describe('parseWgQuick', () => {
  it('reads a full file with two peers; keys are case-insensitive, comments stripped', () => {
    const c = parseWgQuick(FULL, 'wg0.conf');
    expect(formatKey(c.interface.privateKey)).toBe(PRIVATE);
    expect(c.interface.privateKey.buffer.byteLength).toBe(32); // not in the shared Buffer pool
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

  it('never repeats key material, whatever the mistake (Hardening #3)', () => {
    const withKey = (key: string) => [
      `[Interface]\nPrivateKey ${key}\n`, // no '='
      `[Interface]\nPrivateKey: ${key}\n`, // a colon
      `[Interface]\nPrivateKey = ${key} garbage\n`, // trailing garbage
      `[Interface]\nPrivateKey = ${key.slice(0, -1)}\n`, // padding cut off
      `[Interface]\nPrivateKey = ${key.slice(0, 40)}=\n`, // wrong length
      `[Interface]\nPrivateKey = ${key}${key}\n`, // pasted twice
      `[Interface]\nprivatekey ${key}\n`, // lowercased, no '='
      `[Interface]\nPrivate Key = ${key}\n`, // a misspelt key name
      `[Interface]\n${key}\n`, // the key alone
      `[Interface]\n${key.slice(0, -1)}\n`, // the key alone, no padding
      `[Interface]\n${key.slice(0, 20)}\n${key.slice(20)}\n`, // cut over two lines
      `[Interface]\n${key} = PrivateKey\n`, // the wrong way round
      `[Interface ${key}]\n`, // in a section header
      `[${key}]\n`,
      `PrivateKey = ${key}\n`, // outside of a section
      `PrivateKey ${key}\n[Interface]\n`,
      `${iface('')}[Peer]\nPresharedKey ${key}\nPublicKey = ${PEER1}\n`,
      `${iface('')}[Peer]\nPublicKey = ${PEER1}\nPresharedKey: ${key}\n`,
      `${iface('')}[Peer]\nPublicKey = ${PEER1}\nPresharedKey = "${key}"\n`,
      `${iface('')}[Peer]\nPublicKey = ${PEER1}\n${key}: x\n`,
      iface(`ListenPort = ${key}`), // a key in the wrong field
      iface(`MTU = ${key}`),
      iface(`FwMark = ${key}`),
      iface(`Table = ${key}`),
      iface(`Address = ${key}`),
      iface(`Address = 10.0.0.1/32, ${key}`),
      iface(`[Peer]\nPublicKey = ${PEER1}\nAllowedIPs = ${key}`),
      iface(`[Peer]\nPublicKey = ${PEER1}\nEndpoint = ${key}`),
      iface(`[Peer]\nPublicKey = ${PEER1}\nEndpoint = ${key}:51820`),
      iface(`[Peer]\nPublicKey = ${PEER1}\nPersistentKeepalive = ${key}`),
    ];
    for (const key of [PRIVATE, SLASHED]) {
      for (const text of withKey(key)) {
        let message = '';
        try {
          parseWgQuick(text, 'wg9.conf');
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          message = (e as Error).message;
        }
        expect(message, text).toMatch(/^wg9\.conf(:\d+)?: /);
        expect(keyPieceIn(message, key), text).toBeUndefined();
      }
    }
  });

  it('refuses an Endpoint name that may be a key (without its padding, a valid DNS name), so it never reaches a resolver', () => {
    const unpadded = 'q1Wk7ZcX3vNtR0pLmA9sDfGhJ2KbY5eUuIoP6wTz8xC';
    fails(iface(`[Peer]\nPublicKey = ${PEER1}\nEndpoint = ${unpadded}:51820`), /:5: Endpoint must be host:port/);
    expect(
      parseWgQuick(iface(`[Peer]\nPublicKey = ${PEER1}\nEndpoint = gw-7.building.example:51820`), 'wg9.conf').peers[0]!
        .endpoint,
    ).toBe('gw-7.building.example:51820');
  });

  it('names the field and line instead of the value', () => {
    fails(
      `[Interface]\nPrivateKey ${PRIVATE}\n`,
      /^wg9\.conf:2: unknown key \(a name that may hold a key, not shown\)/,
    );
    fails(`[Interface]\nPrivateKey = ${PRIVATE} x\n`, /^wg9\.conf:2: PrivateKey: not a WireGuard key/);
    fails(`[Interface]\nprivatekey = x\n`, /^wg9\.conf:2: PrivateKey: not a WireGuard key/);
    fails(iface(`MTU = ${PRIVATE}`), /:3: MTU must be 576\.\.65535, got \(a value that may hold a key, not shown\)$/);
    fails(iface(`[Peer]\nPublicKey = ${PEER1}\nPresharedKey = x`), /:5: PresharedKey: not a WireGuard key/);
  });
});

describe('loadWgQuickFile (Hardening #12)', () => {
  it('warns, as wg-quick does, when group or others may read the private key; refuses a symbolic link', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-wgquick-'));
    try {
      const file = join(dir, 'wg0.conf');
      writeFileSync(file, new TextEncoder().encode(FULL), { mode: 0o600 }); // a string would go through the pool
      const warnings: string[][] = [];
      const warn = (message: string, mode: string) => warnings.push([message, mode]);
      const key = loadWgQuickFile(file, warn).interface.privateKey;
      expect(formatKey(key)).toBe(PRIVATE);
      // Neither the key nor the file's text went through Node's shared Buffer pool (Hardening #11a).
      expect(inSharedPool(key)).toBe(false);
      expect(inSharedPool(new TextEncoder().encode(PRIVATE))).toBe(false);
      expect(warnings).toEqual([]);
      chmodSync(file, 0o644);
      loadWgQuickFile(file, warn);
      expect(warnings).toEqual([
        [`${file} holds a private key but group/others may access it (mode 0644): chmod 600 ${file}`, '0644'],
      ]);
      const link = join(dir, 'wg1.conf');
      symlinkSync(file, link);
      expect(() => loadWgQuickFile(link, warn)).toThrow(ConfigError);
      expect(() => loadWgQuickFile(link, warn)).toThrow(`${link}: the file is a symbolic link (name the file itself)`);
      expect(() => loadWgQuickFile(dir, warn)).toThrow(`${dir}: the file is a directory, not a regular file`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
