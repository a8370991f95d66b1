// checkHost against canned `ip -j` output (recorded from iproute2 6.1 in a test
// namespace, on documentation addresses): it only reads, and names the field
// of every conflict with the host.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandError, RecordingRunner } from '../shared/host/command.js';
import { parseCidr } from '../shared/net/address.js';
import { generatePrivateKeyText } from '../shared/wireguard/keys.js';
import { configFiles } from '../test/support/config-files.js';
import { ConfigError, loadGatewayConfig, type GatewayConfig } from './config.js';
import { checkHost } from './host-check.js';

const files = configFiles('mg-hostcheck-', 'gateway', loadGatewayConfig);
let gatewayKeyFile: string;

beforeAll(() => {
  files.open();
  const key = generatePrivateKeyText((n) => randomBytes(n));
  files.secrets.push(key);
  gatewayKeyFile = files.writeKey('gateway.key', key);
});

afterAll(() => files.close());

function base(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { privateKeyFile: gatewayKeyFile, uplink: 'eth0', ...extra };
}

/** `ip -j` answers recorded in a namespace: uplink eth0 (192.0.2.2/24, 2001:db8:1::2/64), a stale TUN mg0. */
const LINK_ETH0 =
  '[{"ifindex":6,"link_index":2,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"a2:4f:89:9f:51:0c","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0}]';
const LINK_MG0_TUN =
  '[{"ifindex":2,"ifname":"mg0","flags":["POINTOPOINT","MULTICAST","NOARP"],"mtu":1500,"qdisc":"noop","operstate":"DOWN","linkmode":"DEFAULT","group":"default","txqlen":500,"link_type":"none","promiscuity":0,"allmulti":0,"min_mtu":68,"max_mtu":65535,"linkinfo":{"info_kind":"tun","info_data":{"type":"tun","pi":false,"vnet_hdr":false,"multi_queue":false,"persist":true}},"inet6_addr_gen_mode":"eui64","num_tx_queues":1,"num_rx_queues":1}]';
const LINK_MG0_VETH =
  '[{"ifindex":6,"link_index":2,"ifname":"mg0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"link_type":"ether","linkinfo":{"info_kind":"veth"}}]';

interface Addr {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope?: string;
}
function addrJson(links: { ifname: string; addrs: Addr[] }[]): string {
  return JSON.stringify(
    links.map((l, i) => ({
      ifindex: i + 1,
      ifname: l.ifname,
      flags: ['UP'],
      mtu: 1500,
      addr_info: l.addrs.map((a) => ({ ...a, valid_life_time: 4294967295, preferred_life_time: 4294967295 })),
    })),
  );
}
const ADDRS_OK = addrJson([
  {
    ifname: 'lo',
    addrs: [
      { family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' },
      { family: 'inet6', local: '::1', prefixlen: 128, scope: 'host' },
    ],
  },
  // A stale TUN of our own: its addresses are ours and are ignored.
  { ifname: 'mg0', addrs: [{ family: 'inet', local: '100.64.0.1', prefixlen: 16 }] },
  {
    ifname: 'eth0',
    addrs: [
      { family: 'inet', local: '192.0.2.2', prefixlen: 24, scope: 'global' },
      { family: 'inet6', local: '2001:db8:1::2', prefixlen: 64, scope: 'global' },
      { family: 'inet6', local: 'fe80::a04f:89ff:fe9f:510c', prefixlen: 64, scope: 'link' },
    ],
  },
]);
const ROUTES4_OK =
  '[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]},{"dst":"192.0.2.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"192.0.2.2","flags":[]},{"dst":"100.64.0.0/16","dev":"mg0","protocol":"kernel","scope":"link","flags":[]},{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},{"type":"local","dst":"192.0.2.2","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"192.0.2.2","flags":[]},{"type":"broadcast","dst":"192.0.2.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"192.0.2.2","flags":[]}]';
const ROUTES6_OK =
  '[{"dst":"2001:db8:1::/64","dev":"eth0","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},{"dst":"fe80::/64","dev":"eth0","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},{"dst":"default","gateway":"2001:db8:1::1","dev":"eth0","metric":1024,"flags":[],"pref":"medium"},{"type":"local","dst":"::1","dev":"lo","table":"local","protocol":"kernel","metric":0,"flags":[],"pref":"medium"},{"type":"local","dst":"2001:db8:1::2","dev":"eth0","table":"local","protocol":"kernel","metric":0,"flags":[],"pref":"medium"},{"type":"multicast","dst":"ff00::/8","dev":"eth0","table":"local","protocol":"kernel","metric":256,"flags":[],"pref":"medium"}]';

function noDevice(args: readonly string[]): never {
  const name = args[args.length - 1]!;
  throw new CommandError(`ip ${args.join(' ')}`, 1, `Device "${name}" does not exist.`);
}

/** A host answering `ip -j …` from a table; anything not listed is refused (so only reads happen). */
function host(overrides: Partial<Record<'uplink' | 'tun' | 'addrs' | 'routes4' | 'routes6', string | null>> = {}) {
  const table = {
    uplink: LINK_ETH0,
    tun: LINK_MG0_TUN,
    addrs: ADDRS_OK,
    routes4: ROUTES4_OK,
    routes6: ROUTES6_OK,
    ...overrides,
  };
  return new RecordingRunner((command, args) => {
    if (command !== 'ip') throw new Error(`unexpected command ${command}`);
    const line = args.join(' ');
    let answer: string | null | undefined;
    if (line === '-j link show dev eth0') answer = table.uplink;
    else if (/^-j link show dev /.test(line)) answer = null;
    else if (line === '-j -d link show dev mg0') answer = table.tun;
    else if (/^-j -d link show dev /.test(line)) answer = null;
    else if (line === '-j address show') answer = table.addrs;
    else if (line === '-j -4 route show table all') answer = table.routes4;
    else if (line === '-j -6 route show table all') answer = table.routes6;
    else throw new Error(`unexpected: ip ${line}`);
    if (answer === null) noDevice(args);
    return answer;
  });
}

function hostConfig(extra: Record<string, unknown> = {}): GatewayConfig {
  return loadGatewayConfig(files.writeConfig(base({ ipv6: { pool: 'fd12:3456:789a::/48' }, ...extra })));
}

async function hostFails(
  config: GatewayConfig,
  runner: RecordingRunner,
  field: string,
  pattern: RegExp,
): Promise<void> {
  let error: unknown;
  try {
    await checkHost(config, runner);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  const e = error as ConfigError;
  expect(e.code).toBe('host');
  expect(e.field).toBe(field);
  expect(e.message.startsWith(`${config.file}: ${field === '' ? '' : `${field}: `}`)).toBe(true);
  expect(e.message).not.toContain('\n');
  expect(e.message).toMatch(pattern);
}

describe('checkHost', () => {
  it('passes on a host with the uplink, no overlap, and only reads', async () => {
    const runner = host();
    await checkHost(hostConfig(), runner);
    expect(runner.lines()).toEqual([
      'ip -j link show dev eth0',
      'ip -j -d link show dev mg0',
      'ip -j address show',
      'ip -j -4 route show table all',
      'ip -j -6 route show table all',
    ]);
  });

  it('passes when the TUN device does not exist yet', async () => {
    await checkHost(hostConfig(), host({ tun: null }));
  });

  it('fails when the uplink is missing', async () => {
    await hostFails(hostConfig({ uplink: 'eth9' }), host(), 'uplink', /no interface "eth9" on this host/);
  });

  it('fails when ip itself fails', async () => {
    const runner = new RecordingRunner(() => {
      throw new CommandError('ip -j link show dev eth0', 255, 'Cannot open netlink socket: Permission denied\nmore');
    });
    await hostFails(
      hostConfig(),
      runner,
      'uplink',
      /cannot inspect "eth0": Cannot open netlink socket: Permission denied$/,
    );
  });

  it('fails when the TUN name is taken by another kind of device', async () => {
    await hostFails(hostConfig(), host({ tun: LINK_MG0_VETH }), 'interface', /"mg0" is already a veth device/);
  });

  it('fails when a pool overlaps an address on the host', async () => {
    const addrs = addrJson([{ ifname: 'eth1', addrs: [{ family: 'inet', local: '100.64.3.1', prefixlen: 24 }] }]);
    await hostFails(
      hostConfig(),
      host({ addrs }),
      'ipv4Pool',
      /100\.64\.0\.0\/16 overlaps the address 100\.64\.3\.1\/24 of eth1 already on this host/,
    );
    // An ISP's carrier-grade NAT address whose /10 contains the whole pool.
    const cgnat = addrJson([{ ifname: 'eth0', addrs: [{ family: 'inet', local: '100.72.9.9', prefixlen: 10 }] }]);
    await hostFails(hostConfig(), host({ addrs: cgnat }), 'ipv4Pool', /100\.72\.9\.9\/10 of eth0/);
    const v6 = addrJson([
      { ifname: 'eth1', addrs: [{ family: 'inet6', local: 'fd12:3456:789a:7::1', prefixlen: 64 }] },
    ]);
    await hostFails(
      hostConfig(),
      host({ addrs: v6 }),
      'ipv6.pool',
      /fd12:3456:789a::\/48 overlaps the address fd12:3456:789a:7::1\/64/,
    );
  });

  it('fails when a pool overlaps a route on the host', async () => {
    const routes4 = JSON.stringify([
      ...JSON.parse(ROUTES4_OK),
      { dst: '100.64.5.0/24', gateway: '192.0.2.1', dev: 'eth0', flags: [] },
    ]);
    await hostFails(
      hostConfig(),
      host({ routes4 }),
      'ipv4Pool',
      /100\.64\.0\.0\/16 overlaps the route to 100\.64\.5\.0\/24 via eth0 \(table main\) already on this host/,
    );
    const routes6 = JSON.stringify([
      ...JSON.parse(ROUTES6_OK),
      { type: 'unreachable', dst: 'fd12:3456:789a:1::/64', dev: 'lo', table: '100', flags: [] },
    ]);
    await hostFails(
      hostConfig(),
      host({ routes6 }),
      'ipv6.pool',
      /unreachable route to fd12:3456:789a:1::\/64 via lo \(table 100\)/,
    );
  });

  it('checks a generated IPv6 pool passed by the daemon', async () => {
    const config = loadGatewayConfig(files.writeConfig(base()));
    const addrs = addrJson([
      { ifname: 'eth1', addrs: [{ family: 'inet6', local: 'fdaa:bbbb:cccc::9', prefixlen: 64 }] },
    ]);
    await checkHost(config, host({ addrs }));
    await expect(checkHost(config, host({ addrs }), { ipv6Pool: parseCidr('fdaa:bbbb:cccc::/48') })).rejects.toThrow(
      /ipv6\.pool: fdaa:bbbb:cccc::\/48 overlaps the address fdaa:bbbb:cccc::9\/64 of eth1/,
    );
  });

  it('reports unexpected output from ip, and survives odd JSON', async () => {
    await hostFails(
      hostConfig(),
      host({ addrs: 'not json' }),
      '',
      /cannot list the host's addresses: unexpected output/,
    );
    await hostFails(hostConfig(), host({ routes6: '{"a":1}' }), '', /cannot list the host's routes/);
    const odd =
      '[null, 5, {"ifname": "x", "addr_info": {"local": 1}}, {"ifname": "y", "addr_info": [null, {"local": 7}]}]';
    await checkHost(hostConfig(), host({ addrs: odd, routes4: '[null, {"dst": 5}, {"dst": "nonsense"}]' }));
  });
});
