// Client agent configuration: the happy path with defaults, and one test per kind of
// mistake, each asserting the one-line message names the file and the field and
// holds no secret.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCidr } from '../shared/net/address.js';
import { formatKey } from '../shared/wireguard/keys.js';
import { configFiles, expectOwnKey } from '../test/support/config-files.js';
import { keyPieceIn } from '../test/support/secrets.js';
import { loadClientConfig } from './config.js';

const files = configFiles('mg-clconf-', 'client', loadClientConfig);
const { writeKey, writeConfig, fails } = files;
const { privateKey, publicKey } = files.keyPair();
const psk = files.presharedKey();
const gatewayPublic = files.keyPair().publicKey;
let keyFile: string;
let pskFile: string;

beforeAll(() => {
  files.open();
  keyFile = writeKey('client.key', privateKey);
  pskFile = writeKey('gw.psk', psk);
});

afterAll(() => files.close());

function base(extra: Record<string, unknown> = {}, gateway: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    privateKeyFile: keyFile,
    gateway: { publicKey: gatewayPublic, endpoint: '192.0.2.1:51820', ...gateway },
    ...extra,
  };
}

describe('loadClientConfig: happy path', () => {
  it('fills the defaults into a minimal configuration', () => {
    const file = writeConfig(base());
    const c = loadClientConfig(file);
    expectOwnKey(c, { file, privateKey, publicKey, privateKeyFile: keyFile });
    expect(c.interface).toBe('mgc0');
    expect(c.gateways).toHaveLength(1);
    const gw = c.gateways[0]!;
    expect(formatKey(gw.publicKey)).toBe(gatewayPublic);
    expect(gw).toMatchObject({ name: 'gw1', endpoints: ['192.0.2.1:51820'], priority: 1 });
    expect(gw.presharedKey).toBeNull();
    expect(gw.presharedKeyFile).toBeNull();
    expect(c.failover).toEqual({ probeIntervalMs: 1000, deadAfterMs: 3000, holdDownMs: 10_000 });
    expect(c.persistentKeepalive).toBe(25);
    expect(c.routes).toEqual([]);
    expect(c.defaultRoute).toBe(false);
    expect(c.dns).toBe(true);
    expect(c.lan).toBe('outside');
    expect(c.killSwitch).toBe(false);
    expect(c.router).toBeNull();
  });

  it('routes: default (everything through the gateway) next to listed prefixes, with dns and lan', () => {
    const c = loadClientConfig(
      writeConfig(base({ routes: ['198.51.100.0/24', 'default'], dns: false, lan: 'tunnel' })),
    );
    expect(c.defaultRoute).toBe(true);
    expect(c.routes.map(formatCidr)).toEqual(['198.51.100.0/24']);
    expect(c.dns).toBe(false);
    expect(c.lan).toBe('tunnel');
    expect(loadClientConfig(writeConfig(base({ routes: [' Default '] }))).defaultRoute).toBe(true);
  });

  it('reads a full configuration, with paths relative to the file', () => {
    const c = loadClientConfig(
      writeConfig(`privateKeyFile: client.key
interface: mgc7
gateway:
  publicKey: "${gatewayPublic}"
  endpoint: "[200:1234:5678::1]:51820"   # a Yggdrasil address
  presharedKeyFile: gw.psk
persistentKeepalive: 0
routes: [198.51.100.0/24, "2001:db8::/32", 203.0.113.7]
`),
    );
    expect(c.privateKeyFile).toBe(keyFile);
    expect(c.interface).toBe('mgc7');
    expect(c.gateways[0]!.endpoints).toEqual(['[200:1234:5678::1]:51820']);
    expect(formatKey(c.gateways[0]!.presharedKey!)).toBe(psk);
    expect(c.gateways[0]!.presharedKeyFile).toBe(pskFile);
    expect(c.persistentKeepalive).toBe(0);
    expect(c.routes.map(formatCidr)).toEqual(['198.51.100.0/24', '2001:db8::/32', '203.0.113.7/32']);
  });

  it('accepts a DNS name, a cjdns address, and a link-local address with a zone', () => {
    for (const endpoint of ['gw.example.net:51820', '[fc12:3456::1]:51820', '[fe80::1%wlan0]:51820']) {
      expect(loadClientConfig(writeConfig(base({}, { endpoint }))).gateways[0]!.endpoints).toEqual([endpoint]);
    }
  });
});

describe('loadClientConfig: several gateways (failover)', () => {
  const second = files.keyPair().publicKey;
  const third = files.keyPair().publicKey;
  const two = (extra: Record<string, unknown> = {}, g2: Record<string, unknown> = {}) => ({
    privateKeyFile: keyFile,
    gateways: [
      { name: 'north', publicKey: gatewayPublic, endpoints: ['[2001:db8:1::1]:51820', '192.0.2.1:51820'], priority: 1 },
      { publicKey: second, endpoint: '[200:1234::2]:443', presharedKeyFile: pskFile, ...g2 },
    ],
    ...extra,
  });

  it('reads a list with names, endpoints, priorities and the failover timings', () => {
    const c = loadClientConfig(
      writeConfig(two({ failover: { probeInterval: 0.5, deadAfter: 2, holdDown: 0 }, routes: ['default'] })),
    );
    expect(c.gateways.map((g) => [g.name, formatKey(g.publicKey), g.endpoints, g.priority])).toEqual([
      ['north', gatewayPublic, ['[2001:db8:1::1]:51820', '192.0.2.1:51820'], 1],
      ['gw2', second, ['[200:1234::2]:443'], 1],
    ]);
    expect(c.gateways[0]!.presharedKey).toBeNull();
    expect(formatKey(c.gateways[1]!.presharedKey!)).toBe(psk);
    expect(c.failover).toEqual({ probeIntervalMs: 500, deadAfterMs: 2000, holdDownMs: 0 });
  });

  it('one of gateway and gateways; keys, names and endpoints unique; never the own key', () => {
    fails({ ...two(), gateway: { publicKey: third, endpoint: '192.0.2.3:51820' } }, 'gateways', 'conflict', /not both/);
    fails(two({}, { publicKey: gatewayPublic }), 'gateways[1].publicKey', 'duplicate', /gateways\[0\]\.publicKey/);
    fails(two({}, { name: 'north' }), 'gateways[1].name', 'duplicate');
    fails(two({}, { name: 'a b' }), 'gateways[1].name', 'invalid');
    fails(two({}, { endpoints: ['192.0.2.2:51820'] }), 'gateways[1].endpoints', 'conflict', /either endpoint/);
    fails(two({}, { endpoint: undefined }), 'gateways[1].endpoint', 'missing');
    fails(two({}, { endpoint: undefined, endpoints: [] }), 'gateways[1].endpoints', 'range', /is empty/);
    fails(
      two({}, { endpoint: undefined, endpoints: ['192.0.2.2:51820', '192.0.2.2:51820'] }),
      'gateways[1].endpoints[1]',
      'duplicate',
    );
    fails(two({}, { publicKey: publicKey }), 'gateways[1].publicKey', 'conflict', /own public key/);
    fails(two({}, { priority: -1 }), 'gateways[1].priority', 'range');
    fails({ privateKeyFile: keyFile, gateways: [] }, 'gateways', 'range');
  });

  it('every endpoint of every gateway is kept out of routes; lan: tunnel refused if any is on an overlay', () => {
    fails(two({ routes: ['192.0.2.0/24'] }), 'routes[0]', 'conflict', /gateway endpoint 192\.0\.2\.1:51820/);
    fails(two({ routes: ['default'], lan: 'tunnel' }), 'lan', 'conflict', /\[200:1234::2\]:443/);
  });

  it('failover timings: ranges, and deadAfter at least two probe intervals', () => {
    fails(two({ failover: { probeInterval: 0.1 } }), 'failover.probeInterval', 'range', /0\.2 to 60 seconds/);
    fails(two({ failover: { deadAfter: 1 } }), 'failover.deadAfter', 'range', /2 to 600 seconds/);
    fails(two({ failover: { holdDown: 3601 } }), 'failover.holdDown', 'range');
    fails(two({ failover: { holdDown: 'long' } }), 'failover.holdDown', 'type');
    fails(two({ failover: { flap: 1 } }), 'failover.flap', 'unknown-field');
  });
});

describe('loadClientConfig: mistakes', () => {
  it('bad YAML', () => {
    fails('gateway: {publicKey: x\n', '', 'syntax', /:\d+: YAML syntax: /);
    fails(`privateKeyFile: ${keyFile}\ngateway:\n  endpoint: [2001:db8::1]:51820\n`, '', 'syntax', /in quotes/);
  });

  it('a missing required field', () => {
    fails({}, 'privateKeyFile', 'missing', /required, but missing/);
    fails({ privateKeyFile: keyFile }, 'gateway', 'missing');
    fails({ privateKeyFile: keyFile, gateway: { publicKey: gatewayPublic } }, 'gateway.endpoint', 'missing');
    fails({ privateKeyFile: keyFile, gateway: { endpoint: '192.0.2.1:51820' } }, 'gateway.publicKey', 'missing');
  });

  it('a wrong type', () => {
    fails(base({ persistentKeepalive: '25' }), 'persistentKeepalive', 'type', /whole number from 0 to 65535, got text/);
    fails(base({ routes: '198.51.100.0/24' }), 'routes', 'type', /must be a list/);
    fails(base({ gateway: 'gw.example.net:51820' }), 'gateway', 'type', /must be a mapping/);
    fails(base({ interface: 7 }), 'interface', 'type', /must be text/);
  });

  it('an unknown field', () => {
    fails(base({ keepalive: 25 }), 'keepalive', 'unknown-field');
    fails(base({}, { pubkey: gatewayPublic }), 'gateway.pubkey', 'unknown-field', /did you mean publicKey\?/);
    fails(base({ privateKey: privateKey }), 'privateKey', 'unknown-field');
  });

  it('a bad key', () => {
    fails(base({}, { publicKey: 'not a key' }), 'gateway.publicKey', 'invalid', /not a WireGuard key/);
    const m = fails(base({}, { publicKey: privateKey.slice(0, 40) }), 'gateway.publicKey', 'invalid');
    expect(m).not.toContain(privateKey.slice(0, 40));
    fails(base({}, { publicKey: publicKey }), 'gateway.publicKey', 'conflict', /this client's own public key/);
    const lowOrder = new Uint8Array(32);
    lowOrder[0] = 1;
    fails(base({}, { publicKey: formatKey(lowOrder) }), 'gateway.publicKey', 'invalid', /low-order/);
  });

  it('an unreadable or too open key file', () => {
    fails(base({ privateKeyFile: join(files.dir, 'nope.key') }), 'privateKeyFile', 'key-file', /does not exist/);
    const open = writeKey('open.key', privateKey, 0o604);
    fails(base({ privateKeyFile: open }), 'privateKeyFile', 'key-file', new RegExp(`${open} has mode 0604`));
    const openPsk = writeKey('open.psk', psk, 0o660);
    fails(base({}, { presharedKeyFile: openPsk }), 'gateway.presharedKeyFile', 'key-file', /mode 0660/);
    const bad = writeKey('bad.psk', 'hello');
    fails(base({}, { presharedKeyFile: bad }), 'gateway.presharedKeyFile', 'key-file', /does not hold a WireGuard key/);
  });

  it('a bad endpoint', () => {
    fails(base({}, { endpoint: '192.0.2.1' }), 'gateway.endpoint', 'invalid', /host:port/);
    fails(base({}, { endpoint: '200:1234::1:51820' }), 'gateway.endpoint', 'invalid', /brackets/);
    fails(base({}, { endpoint: '192.0.2.1:99999' }), 'gateway.endpoint', 'invalid', /port/);
    fails(
      base({}, { endpoint: '-bad-.example:51820' }),
      'gateway.endpoint',
      'invalid',
      /neither an IP address nor a DNS name/,
    );
  });

  it('routes: default prefixes are refused (write "default"); "default" only once', () => {
    fails(base({ routes: ['0.0.0.0/0'] }), 'routes[0]', 'invalid', /default route: write "default"/);
    fails(base({ routes: ['::/0'] }), 'routes[0]', 'invalid', /default route: write "default"/);
    fails(base({ routes: ['default', 'DEFAULT'] }), 'routes[1]', 'duplicate');
  });

  it('killSwitch: with routes: [default] only, a boolean', () => {
    expect(loadClientConfig(writeConfig(base({ routes: ['default'], killSwitch: true }))).killSwitch).toBe(true);
    expect(loadClientConfig(writeConfig(base({ routes: ['default'], killSwitch: false }))).killSwitch).toBe(false);
    fails(base({ killSwitch: true }), 'killSwitch', 'conflict', /needs "default" in routes/);
  });

  it('router: with routes: [default] only, a valid LAN interface other than the tunnel, ipv6 nat66 or routed', () => {
    const c = loadClientConfig(writeConfig(base({ routes: ['default'], router: { lanInterface: 'br-lan' } })));
    expect(c.router).toEqual({ lanInterface: 'br-lan', ipv6: 'nat66' });
    const r = { lanInterface: 'br-lan', ipv6: 'nat66' };
    expect(loadClientConfig(writeConfig(base({ routes: ['default'], router: r }))).router).toEqual(r);
    fails(base({ router: r }), 'router', 'conflict', /needs "default" in routes/);
    fails(base({ routes: ['198.51.100.0/24'], router: r }), 'router', 'conflict', /needs "default" in routes/);
    fails(base({ routes: ['default'], router: { lanInterface: 'mgc0' } }), 'router.lanInterface', 'conflict', /tunnel/);
    fails(base({ routes: ['default'], router: { lanInterface: 'a b' } }), 'router.lanInterface', 'invalid');
    fails(base({ routes: ['default'], router: { lanInterface: 'br-lan', ipv6: 'bridged' } }), 'router.ipv6', 'invalid');
    const routed = { lanInterface: 'br-lan', ipv6: 'routed' };
    expect(loadClientConfig(writeConfig(base({ routes: ['default'], router: routed }))).router).toEqual(routed);
    fails(base({ routes: ['default'], router: {} }), 'router.lanInterface', 'missing');
    fails(base({ routes: ['default'], lan: 'tunnel', router: r }), 'router', 'conflict', /lan: outside/);
    fails(base({ routes: ['default'], router: { lanInterface: 'br-lan', wan: 'x' } }), 'router.wan', 'unknown-field');
  });

  it('lan: tunnel with a default route is refused when the gateway is reached over a mesh overlay', () => {
    for (const endpoint of ['[200:1234:5678::1]:51820', '[fc12:3456::1]:51820']) {
      fails(
        base({ routes: ['default'], lan: 'tunnel' }, { endpoint }),
        'lan',
        'conflict',
        /peer links into the tunnel/,
      );
      expect(loadClientConfig(writeConfig(base({ routes: ['default'] }, { endpoint }))).lan).toBe('outside');
    }
    fails(base({ routes: ['198.51.100.0/24'], killSwitch: true }), 'killSwitch', 'conflict', /needs "default"/);
    fails(base({ routes: ['default'], killSwitch: 'on' }), 'killSwitch', 'type');
  });

  it('dns and lan: booleans and the two words only', () => {
    fails(base({ dns: 'yes' }), 'dns', 'type');
    fails(base({ lan: 'inside' }), 'lan', 'invalid');
  });

  it('routes: bad, duplicated, looping or special prefixes', () => {
    fails(base({ routes: ['198.51.100.0/33'] }), 'routes[0]', 'invalid', /not an IP prefix/);
    fails(
      base({ routes: ['198.51.100.1/24'] }),
      'routes[0]',
      'invalid',
      /host bits set \(did you mean 198\.51\.100\.0\/24\?\)/,
    );
    fails(base({ routes: ['198.51.100.0/24', '198.51.100.0/24'] }), 'routes[1]', 'duplicate');
    fails(
      base({ routes: ['192.0.2.0/24'] }),
      'routes[0]',
      'conflict',
      /contains the gateway endpoint 192\.0\.2\.1:51820/,
    );
    fails(base({ routes: ['200::/8'] }, { endpoint: '[200:1::1]:51820' }), 'routes[0]', 'conflict', /Yggdrasil/);
    fails(base({ routes: ['127.0.0.0/8'] }), 'routes[0]', 'conflict', /loopback/);
    fails(base({ routes: ['ff02::/16'] }), 'routes[0]', 'conflict', /multicast/);
  });

  it('out-of-range numbers and bad names', () => {
    fails(base({ persistentKeepalive: 65536 }), 'persistentKeepalive', 'range', /from 0 to 65535, got 65536/);
    fails(base({ persistentKeepalive: -1 }), 'persistentKeepalive', 'range');
    fails(base({ interface: 'a-name-that-is-too-long' }), 'interface', 'invalid', /not an interface name/);
    fails(base({ interface: 'mgc+0' }), 'interface', 'invalid', /not an interface name/);
  });
});

describe('loadClientConfig: no key material in any message (Hardening #3)', () => {
  const SLASHED = 'aB3dE5gH9jK1m/Op2rS4tU6w/Xz8Ab0Cd2Ef4Gh6Ij8=';
  const mistakes = (key: string): (string | Record<string, unknown>)[] => [
    base({ privateKeyFile: key }),
    base({ privateKeyFile: key.slice(0, -1) }),
    base({}, { presharedKeyFile: key }),
    base({ privateKey: key }),
    base({ [key]: 1 }),
    base({}, { [key.slice(0, 40)]: 1 }),
    base({}, { publicKey: `${key} x` }),
    base({}, { publicKey: key.slice(0, 40) + '=' }),
    base({}, { endpoint: key }),
    base({}, { endpoint: `${key}:51820` }),
    base({}, { endpoint: `[${key}]:51820` }),
    base({}, { endpoint: `[fe80::1%${key}]:51820` }),
    base({ interface: key }),
    { privateKeyFile: keyFile, gateways: [{ publicKey: `${key} x`, endpoint: '192.0.2.1:51820' }] },
    { privateKeyFile: keyFile, gateways: [{ name: key, publicKey: gatewayPublic, endpoints: [key] }] },
    { privateKeyFile: keyFile, gateways: [{ publicKey: gatewayPublic, endpoints: ['192.0.2.1:1', `${key}:1`] }] },
    base({ routes: [key] }),
    base({ routes: [`${key}/24`] }),
    `privateKeyFile: ${keyFile}\nPrivateKey ${key}\n`,
    `privateKeyFile: ${keyFile}\ngateway: *${key.slice(0, 30)}\n`,
  ];

  it('names the field, never the value, whatever the mistake', () => {
    for (const key of [privateKey, psk, SLASHED]) {
      for (const content of mistakes(key)) {
        const { error, shown } = files.thrown(content);
        const message = error.message;
        expect(keyPieceIn(message, key), `${shown}\n→ ${message}`).toBeUndefined();
      }
    }
  });
});
