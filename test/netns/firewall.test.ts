// The gateway's nftables ruleset (gateway/firewall.ts) and forwarding
// (gateway/sysctl.ts) on a real kernel, in network namespaces.
//
//   c1 mg-c1 ─┐                                     (100.64.0.10/32, fd00:77:1::10/128)
//             ├─ mg-tun (bridge) ─ gw ─ mg-up ─── mg-wan ─ inet
//   c2 mg-c2 ─┘   100.64.0.1/16     198.51.100.2/24       198.51.100.1/24, 2001:db8:100::1/64
//                 fd00:77:1::1/48   2001:db8:100::2/64    lo: 192.168.77.1, fd00:99::1 (a "private LAN box")
//
//   left mg-l0 ── mg-l gw mg-r ── mg-r0 right      (192.0.2.0/25 | 192.0.2.128/25, 2001:db8:1::/64 | 2001:db8:2::/64)
//   two more networks on the gateway host that have nothing to do with the tunnel
//
// The bridge mg-tun stands in for the gateway's TUN device: the ruleset is
// rendered for tunnel "mg-tun" and uplink "mg-up". Clients hold /32 and /128
// addresses with the gateway as their only next hop, so client-to-client
// traffic is routed (and filtered) by the gateway, as it is over a real TUN.
// Neighbour entries are static: a TUN has no ARP/ND, and the ruleset rightly
// drops ICMPv6 from the tunnel to the gateway.
//
// A tiny "whoami" server (TCP and UDP, inline below) answers with the source
// address it saw, so a probe learns whether it got through and whether NAT
// rewrote it. Blocked probes time out (the ruleset drops, it never rejects).
//
// Everything runs inside namespaces created here (mg-*), on documentation,
// RFC 6598 and ULA addresses; every nft/sysctl goes through `ip netns exec`.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemRunner, type CommandRunner } from '../../shared/host/command.js';
import { parseCidr, parseIp } from '../../shared/net/address.js';
import {
  applyFirewall,
  firewallCounters,
  FirewallCounters,
  removeFirewall,
  type CounterValue,
  type FirewallState,
} from '../../gateway/firewall.js';
import { enableForwarding, forwardedBefore, restoreForwarding, type ForwardingState } from '../../gateway/sysctl.js';
import { netnsSkip, Scene, sleep, type Namespace, type Proc } from './harness.js';

const skipReason = netnsSkip('firewall namespace tests', { commands: ['ip', 'nft', 'sysctl', 'tcpdump', 'python3'] });

const TESTDATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../gateway/testdata');

const TUN = 'mg-tun';
const UPLINK = 'mg-up';
const PORT = 8080;
const DNS = 53;
const BLOCKED_TIMEOUT_MS = 1_200;

const A = {
  inet4: '198.51.100.1',
  inet6: '2001:db8:100::1',
  up4: '198.51.100.2',
  up6: '2001:db8:100::2',
  lan4: '192.168.77.1',
  lan6: 'fd00:99::1',
  bench4: '198.18.0.1', // RFC 2544 benchmarking, behind the uplink
  nat64lan: '64:ff9b::c0a8:4d01', // 192.168.77.1 under the NAT64 prefix (no translator here: the address itself)
  nat64inet: '64:ff9b::c633:6401', // 198.51.100.1 under the NAT64 prefix: stays reachable
  gw4: '100.64.0.1',
  gw6: 'fd00:77:1::1',
  c1v4: '100.64.0.10',
  c1v6: 'fd00:77:1::10',
  c2v4: '100.64.0.11',
  c2v6: 'fd00:77:1::11',
  gwLeft4: '192.0.2.1',
  gwLeft6: '2001:db8:1::1',
  left4: '192.0.2.10',
  left6: '2001:db8:1::10',
  gwRight4: '192.0.2.129',
  gwRight6: '2001:db8:2::1',
  right4: '192.0.2.130',
  right6: '2001:db8:2::10',
} as const;

const MTU = 1420;

function state(over: Partial<FirewallState> = {}): FirewallState {
  return {
    table: 'meshgate',
    tunnel: TUN,
    uplink: UPLINK,
    ipv4Pool: parseCidr('100.64.0.0/16'),
    ipv6Pool: parseCidr('fd00:77:1::/48'),
    ipv6Mode: 'nat66',
    gatewayIpv4: parseIp(A.gw4),
    gatewayIpv6: parseIp(A.gw6),
    mtu: MTU,
    allowPrivate: [],
    hostForwarding: { ipv4: false, ipv6: false }, // as the namespace was before enableForwarding
    ...over,
  };
}

/** A CommandRunner whose commands run inside the namespace. */
function runnerIn(ns: Namespace): CommandRunner {
  return {
    run: (command, args, options) => systemRunner.run('ip', ['netns', 'exec', ns.name, command, ...args], options),
  };
}

// argv: ports…  Answers every TCP connection and UDP datagram with the peer's address.
const WHOAMI_SERVER = `
import net from 'node:net';
import dgram from 'node:dgram';
const plain = (a) => a.replace(/^::ffff:/, '');
let pending = 0;
for (const port of process.argv.slice(1).map(Number)) {
  pending += 2;
  const done = () => { if (--pending === 0) console.log(JSON.stringify({ event: 'listening' })); };
  net.createServer((s) => { s.on('error', () => {}); s.end(plain(s.remoteAddress) + '\\n'); })
    .listen({ port, host: '::', ipv6Only: false }, done);
  const u = dgram.createSocket({ type: 'udp6', ipv6Only: false });
  u.on('message', (_m, r) => u.send(plain(r.address) + '\\n', r.port, r.address));
  u.bind(port, '::', done);
}
`;

// argv: tcp|udp host port timeoutMs → one JSON line {ok, seen?, error?}
const PROBE = `
import net from 'node:net';
import dgram from 'node:dgram';
const [proto, host, port, timeout] = process.argv.slice(1);
const out = (o) => { console.log(JSON.stringify(o)); process.exit(0); };
setTimeout(() => out({ ok: false, error: 'timeout' }), Number(timeout));
if (proto === 'tcp') {
  const s = net.connect({ host, port: Number(port) });
  let text = '';
  s.on('data', (d) => (text += d));
  s.on('end', () => out({ ok: true, seen: text.trim() }));
  s.on('error', (e) => out({ ok: false, error: e.code || e.message }));
} else {
  const u = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  u.on('message', (m) => out({ ok: true, seen: m.toString().trim() }));
  u.on('error', (e) => out({ ok: false, error: e.code || e.message }));
  u.send('who?', Number(port), host);
}
`;

// argv: src dst dport flags…  Sends one bare TCP segment per flags value (hex, e.g.
// 03 = SYN|FIN) from src to dst over a raw socket, checksum computed here, no
// connection behind it: segments that conntrack classifies invalid.
const RAW_TCP = `
import socket, struct, sys
src, dst, dport, *flags = sys.argv[1:]
v6 = ':' in dst
fam = socket.AF_INET6 if v6 else socket.AF_INET
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
sock = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_TCP)
sock.bind((src, 0))
for i, f in enumerate(flags):
    seg = struct.pack('!HHIIBBHHH', 40000 + i, int(dport), 1000 + i, 2000 + i, 5 << 4, int(f, 16), 65535, 0, 0)
    length = struct.pack('!I3xB', len(seg), 6) if v6 else struct.pack('!xBH', 6, len(seg))
    pseudo = socket.inet_pton(fam, src) + socket.inet_pton(fam, dst) + length
    seg = seg[:16] + struct.pack('!H', csum(pseudo + seg)) + seg[18:]
    sock.sendto(seg, (dst, 0))
print('sent', len(flags))
`;
/** TCP flags of segments that open no connection, even with nf_conntrack_tcp_loose = 1. */
const INVALID_TCP_FLAGS = {
  'SYN|FIN': '03', // a flag combination conntrack refuses outright
  RST: '04', // a reset with no connection
  'FIN|ACK': '11', // a close with no connection (a bare ACK would be picked up mid-stream)
} as const;

interface ProbeResult {
  ok: boolean;
  seen?: string;
  error?: string;
}

async function probe(
  from: Namespace,
  host: string,
  port: number,
  proto: 'tcp' | 'udp' = 'tcp',
  timeoutMs = 5_000,
): Promise<ProbeResult> {
  const r = await from.exec(
    'node',
    ['--input-type=module', '-e', PROBE, proto, host, String(port), String(timeoutMs)],
    {
      timeoutMs: timeoutMs + 10_000,
    },
  );
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ProbeResult;
}

/** Expects the probe to get through and returns the source address the server saw. */
async function reaches(from: Namespace, host: string, port = PORT, proto: 'tcp' | 'udp' = 'tcp'): Promise<string> {
  const r = await probe(from, host, port, proto);
  expect(r, `${from.role} → ${proto} ${host} port ${port}`).toMatchObject({ ok: true });
  return r.seen!;
}

/** Expects the probe to be dropped (a timeout, not a refusal). */
async function blocked(from: Namespace, host: string, port = PORT, proto: 'tcp' | 'udp' = 'tcp'): Promise<void> {
  const r = await probe(from, host, port, proto, BLOCKED_TIMEOUT_MS);
  expect(r, `${from.role} → ${proto} ${host} port ${port} should be dropped`).toEqual({ ok: false, error: 'timeout' });
}

function delta(after: Record<string, CounterValue>, before: Record<string, CounterValue>, name: string): number {
  return (after[name]?.packets ?? 0) - (before[name]?.packets ?? 0);
}

/** `nft list table` without counter values (they change with background traffic). */
function withoutCounts(listing: string): string {
  return listing.replace(/packets \d+ bytes \d+/g, 'packets N bytes N');
}

async function macOf(ns: Namespace, dev: string): Promise<string> {
  const r = await ns.ip('-j', 'link', 'show', 'dev', dev);
  return (JSON.parse(r.stdout) as { address: string }[])[0]!.address;
}

describe.skipIf(skipReason !== null)('gateway firewall in namespaces', () => {
  let scene: Scene;
  let inet: Namespace;
  let gw: Namespace;
  let c1: Namespace;
  let c2: Namespace;
  let left: Namespace;
  let right: Namespace;
  let gwRunner: CommandRunner;
  let forwarding: ForwardingState;
  const OTHER_TABLE = [
    'table inet other {',
    '  chain input {',
    '    type filter hook input priority 10; policy accept;',
    '    ip saddr 203.0.113.99 tcp dport 9 drop',
    '  }',
    '}',
  ].join('\n');
  let otherListing = '';

  beforeAll(async () => {
    scene = await Scene.create('firewall');
    inet = await scene.namespace('inet');
    gw = await scene.namespace('gw');
    c1 = await scene.namespace('c1');
    c2 = await scene.namespace('c2');
    left = await scene.namespace('left');
    right = await scene.namespace('right');
    gwRunner = runnerIn(gw);

    // Uplink and the "Internet", with a private LAN box behind it.
    await scene.veth(gw, inet, {
      names: [UPLINK, 'mg-wan'],
      a: [`${A.up4}/24`, `${A.up6}/64`],
      b: [`${A.inet4}/24`, `${A.inet6}/64`],
    });
    await inet.addAddress('lo', `${A.lan4}/32`);
    await inet.addAddress('lo', `${A.lan6}/128`);
    for (const a of [A.bench4, A.nat64lan, A.nat64inet]) await inet.addAddress('lo', a);
    await gw.ip('route', 'add', 'default', 'via', A.inet4);
    await gw.ip('-6', 'route', 'add', 'default', 'via', A.inet6);
    await gw.ip('route', 'add', '192.168.77.0/24', 'via', A.inet4);
    await gw.ip('-6', 'route', 'add', 'fd00:99::/64', 'via', A.inet6);
    await gw.ip('route', 'add', '198.18.0.0/15', 'via', A.inet4);
    await gw.ip('-6', 'route', 'add', '64:ff9b::/96', 'via', A.inet6);
    // The Internet routes the pools to the gateway (needed without NAT, and for the inbound checks).
    await inet.ip('route', 'add', '100.64.0.0/16', 'via', A.up4);
    await inet.ip('-6', 'route', 'add', 'fd00:77:1::/48', 'via', A.up6);

    // The "tunnel": a bridge in the gateway, one port per client.
    await gw.ip('link', 'add', TUN, 'type', 'bridge', 'mcast_snooping', '0');
    await gw.linkUp(TUN);
    await gw.addAddress(TUN, '100.64.0.1/16');
    await gw.addAddress(TUN, 'fd00:77:1::1/48');
    for (const [c, port, dev, v4, v6] of [
      [c1, 'mg-p1', 'mg-c1', A.c1v4, A.c1v6],
      [c2, 'mg-p2', 'mg-c2', A.c2v4, A.c2v6],
    ] as const) {
      await c.sysctl('net.ipv6.conf.default.router_solicitations', 0);
      await scene.veth(gw, c, { names: [port, dev], b: [`${v4}/32`, `${v6}/128`] });
      await gw.ip('link', 'set', port, 'master', TUN);
    }
    const gwMac = await macOf(gw, TUN);
    for (const [c, dev, v6] of [
      [c1, 'mg-c1', A.c1v6],
      [c2, 'mg-c2', A.c2v6],
    ] as const) {
      await c.ip('route', 'add', `${A.gw4}/32`, 'dev', dev);
      await c.ip('-6', 'route', 'add', `${A.gw6}/128`, 'dev', dev);
      // c2 announces a small MSS of its own: the clamp must never raise it.
      const advmss = c === c2 ? ['advmss', '1000'] : [];
      await c.ip('route', 'add', 'default', 'via', A.gw4, 'dev', dev, ...advmss);
      await c.ip('-6', 'route', 'add', 'default', 'via', A.gw6, 'dev', dev, ...advmss);
      await c.ip('-6', 'neigh', 'replace', A.gw6, 'lladdr', gwMac, 'dev', dev, 'nud', 'permanent');
      await gw.ip('-6', 'neigh', 'replace', v6, 'lladdr', await macOf(c, dev), 'dev', TUN, 'nud', 'permanent');
    }

    // Two networks beside the tunnel, routed through the gateway host.
    for (const [ns, names, gw4, gw6, v4, v6, len4] of [
      [left, ['mg-l', 'mg-l0'], A.gwLeft4, A.gwLeft6, A.left4, A.left6, 25],
      [right, ['mg-r', 'mg-r0'], A.gwRight4, A.gwRight6, A.right4, A.right6, 25],
    ] as const) {
      await scene.veth(gw, ns, { names, a: [`${gw4}/${len4}`, `${gw6}/64`], b: [`${v4}/${len4}`, `${v6}/64`] });
      await ns.ip('route', 'add', 'default', 'via', gw4);
      await ns.ip('-6', 'route', 'add', 'default', 'via', gw6);
    }
    await inet.ip('route', 'add', '192.0.2.0/24', 'via', A.up4);

    const servers: Proc[] = [
      left.spawn('whoami', 'node', ['--input-type=module', '-e', WHOAMI_SERVER, String(PORT)]),
      right.spawn('whoami', 'node', ['--input-type=module', '-e', WHOAMI_SERVER, String(PORT)]),
      inet.spawn('whoami', 'node', ['--input-type=module', '-e', WHOAMI_SERVER, String(PORT)]),
      gw.spawn('whoami', 'node', ['--input-type=module', '-e', WHOAMI_SERVER, String(PORT), String(DNS)]),
      c1.spawn('whoami', 'node', ['--input-type=module', '-e', WHOAMI_SERVER, String(PORT)]),
      c2.spawn('whoami', 'node', ['--input-type=module', '-e', WHOAMI_SERVER, String(PORT)]),
    ];
    await Promise.all(servers.map((s) => s.waitFor(/"listening"/, 10_000)));

    // A foreign table that must survive every apply and remove.
    await gw.exec('nft', ['-f', '-'], { input: OTHER_TABLE });
    otherListing = (await gw.exec('nft', ['list', 'table', 'inet', 'other'])).stdout;
  });

  afterAll(async () => {
    await Scene.teardownAll();
  });

  it('enableForwarding turns forwarding on inside the namespace and reports what it was', async () => {
    await gw.sysctl('net.ipv4.ip_forward', 0);
    await gw.sysctl('net.ipv6.conf.all.forwarding', 0);
    await gw.sysctl(`net.ipv6.conf.${UPLINK}.accept_ra`, 1);
    forwarding = await enableForwarding(gwRunner, { uplink: UPLINK });
    expect(forwarding).toEqual({ ipv4: '0', ipv6: '0', uplinkAcceptRa: { uplink: UPLINK, value: '1' } });
    const read = async (key: string) => (await gw.exec('sysctl', ['-n', key])).stdout.trim();
    expect(await read('net.ipv4.ip_forward')).toBe('1');
    expect(await read('net.ipv6.conf.all.forwarding')).toBe('1');
    expect(await read(`net.ipv6.conf.${UPLINK}.accept_ra`)).toBe('2');
  });

  it('without the firewall the topology forwards everything (the control)', async () => {
    expect(await reaches(c1, A.c2v4)).toBe(A.c1v4);
    expect(await reaches(c1, A.c2v6)).toBe(A.c1v6);
    expect(await reaches(c1, A.inet6)).toBe(A.c1v6); // no NAT yet
    expect(await reaches(c1, A.lan4)).toBe(A.c1v4);
    expect(await reaches(c1, A.up4)).toBe(A.c1v4);
    expect(await reaches(inet, A.c1v4)).toBe(A.inet4);
    expect(await reaches(left, A.right4)).toBe(A.left4);
    expect(await reaches(right, A.left6)).toBe(A.right6);
    expect(await reaches(inet, A.left4)).toBe(A.inet4);
  });

  it('NAT: clients reach the Internet over IPv4 and IPv6 and the server sees the uplink address', async () => {
    await applyFirewall(gwRunner, state());
    for (const c of [c1, c2]) {
      expect(await reaches(c, A.inet4)).toBe(A.up4);
      expect(await reaches(c, A.inet6)).toBe(A.up6);
      expect(await reaches(c, A.inet4, PORT, 'udp')).toBe(A.up4);
      expect(await reaches(c, A.inet6, PORT, 'udp')).toBe(A.up6);
    }
    expect(await gw.exec('nft', ['list', 'table', 'inet', 'other']).then((r) => r.stdout)).toBe(otherListing);
  });

  it('keeps clients apart', async () => {
    const before = await firewallCounters(gwRunner);
    await blocked(c1, A.c2v4);
    await blocked(c1, A.c2v6);
    await blocked(c2, A.c1v4, PORT, 'udp');
    const after = await firewallCounters(gwRunner);
    expect(delta(after, before, 'client_to_client')).toBeGreaterThanOrEqual(3);
  });

  it('blocks private destinations behind the uplink unless allowed', async () => {
    const before = await firewallCounters(gwRunner);
    await blocked(c1, A.lan4);
    await blocked(c1, A.lan6);
    await blocked(c1, A.bench4);
    await blocked(c1, A.nat64lan);
    const after = await firewallCounters(gwRunner);
    expect(delta(after, before, 'private_dst')).toBeGreaterThanOrEqual(4);
    // NAT64 of a public address is not private.
    expect(await reaches(c1, A.nat64inet)).toBe(A.up6);

    await applyFirewall(gwRunner, state({ allowPrivate: [parseCidr('192.168.77.0/24'), parseCidr('fd00:99::/64')] }));
    expect(await reaches(c1, A.lan4)).toBe(A.up4);
    expect(await reaches(c1, A.lan6)).toBe(A.up6);
    // Allowing a private range does not open the other clients.
    await blocked(c1, A.c2v4);

    await applyFirewall(gwRunner, state());
    await blocked(c1, A.lan4);
  });

  it('lets clients reach only DNS on the gateway, and only at its tunnel addresses', async () => {
    const before = await firewallCounters(gwRunner);
    expect(await reaches(c1, A.gw4, DNS, 'udp')).toBe(A.c1v4);
    expect(await reaches(c1, A.gw4, DNS, 'tcp')).toBe(A.c1v4);
    expect(await reaches(c1, A.gw6, DNS, 'udp')).toBe(A.c1v6);
    expect(await reaches(c2, A.gw6, DNS, 'tcp')).toBe(A.c2v6);
    await blocked(c1, A.up4); // the gateway's uplink address
    await blocked(c1, A.up6);
    await blocked(c1, A.gw4); // its tunnel address, another port
    await blocked(c1, A.gw6, PORT, 'udp');
    await blocked(c1, A.up4, DNS, 'udp'); // DNS, but not at a tunnel address
    const after = await firewallCounters(gwRunner);
    expect(delta(after, before, 'to_gateway')).toBeGreaterThanOrEqual(5);
    // The gateway itself still reaches its clients (its own traffic is not filtered).
    expect(await reaches(gw, A.c1v4)).toBe(A.gw4);
  });

  it('drops new connections from outside towards clients', async () => {
    const before = await firewallCounters(gwRunner);
    await blocked(inet, A.c1v4);
    await blocked(inet, A.c1v6);
    const after = await firewallCounters(gwRunner);
    expect(delta(after, before, 'inbound_new')).toBeGreaterThanOrEqual(2);
  });

  it('drops packets without a conntrack entry (invalid, untracked) before they leave un-NATed with a pool source', async () => {
    const port = 9999;
    const flags = Object.values(INVALID_TCP_FLAGS);
    const wire = inet.spawn('tcpdump-invalid', 'tcpdump', ['-l', '-n', '-i', 'mg-wan', `port ${port}`]);
    await wire.waitFor(/listening on/, 10_000);
    const before = await firewallCounters(gwRunner);
    for (const [src, dst] of [
      [A.c1v4, A.inet4],
      [A.c1v6, A.inet6],
    ] as const) {
      await c1.exec('python3', ['-c', RAW_TCP, src, dst, String(port), ...flags]);
    }
    // Someone else's notrack rule: UDP to that port is never tracked, so never NATed either.
    const notrack = `table inet mg_notrack {\n chain pre {\n  type filter hook prerouting priority raw;\n  udp dport ${port} notrack\n }\n}\n`;
    await gw.exec('nft', ['-f', '-'], { input: notrack });
    try {
      await blocked(c1, A.inet4, port, 'udp');
      await blocked(c1, A.inet6, port, 'udp');
    } finally {
      await gw.exec('nft', ['delete', 'table', 'inet', 'mg_notrack']);
    }
    await sleep(300);
    const after = await firewallCounters(gwRunner);
    await wire.stop();
    const seen = wire
      .output()
      .split('\n')
      .filter((l) => / (IP|IP6) /.test(l));
    expect(seen, 'packets that reached the Internet side').toEqual([]);
    expect(delta(after, before, 'ct_invalid')).toBe(2 * flags.length + 2);
  });

  it('forwarding was off before: nothing is routed past the tunnel (dropped, counted), clients still get through', async () => {
    expect(forwardedBefore(forwarding)).toEqual({ ipv4: false, ipv6: false });
    await applyFirewall(gwRunner, state({ hostForwarding: forwardedBefore(forwarding) }));
    const before = await firewallCounters(gwRunner);
    await blocked(left, A.right4);
    await blocked(left, A.right6);
    await blocked(right, A.left4, PORT, 'udp');
    await blocked(inet, A.left4); // uplink to another network
    await blocked(left, A.inet4); // and back
    const after = await firewallCounters(gwRunner);
    expect(delta(after, before, 'not_tunnel')).toBeGreaterThanOrEqual(5);
    expect(await reaches(c1, A.inet4)).toBe(A.up4);
    expect(await reaches(c1, A.inet6)).toBe(A.up6);
    await blocked(inet, A.c1v4); // unchanged: inbound_new
    // The gateway's own traffic is not forwarded: it still reaches both networks.
    expect(await reaches(gw, A.left4)).toBe(A.gwLeft4);
    expect(await reaches(gw, A.right6)).toBe(A.gwRight6);
  });

  it('forwarding was on before: traffic past the tunnel still flows, in the families that forwarded', async () => {
    // Forwarding is on in the namespace now, so this start finds it on "before".
    const onBefore = await enableForwarding(gwRunner);
    expect(forwardedBefore(onBefore)).toEqual({ ipv4: true, ipv6: true });
    await applyFirewall(gwRunner, state({ hostForwarding: forwardedBefore(onBefore) }));
    expect(await reaches(left, A.right4)).toBe(A.left4);
    expect(await reaches(left, A.right6)).toBe(A.left6);
    expect(await reaches(inet, A.left4)).toBe(A.inet4);
    expect(await reaches(c1, A.inet4)).toBe(A.up4);
    await blocked(c1, A.c2v4); // the tunnel's own rules are unchanged

    await applyFirewall(gwRunner, state({ hostForwarding: { ipv4: true, ipv6: false } }));
    expect(await reaches(left, A.right4)).toBe(A.left4);
    await blocked(left, A.right6);
    await applyFirewall(gwRunner, state());
  });

  it('routed IPv6 mode: no IPv6 NAT, still no way in from the uplink', async () => {
    await applyFirewall(gwRunner, state({ ipv6Mode: 'routed' }));
    expect(await reaches(c1, A.inet6)).toBe(A.c1v6);
    expect(await reaches(c1, A.inet6, PORT, 'udp')).toBe(A.c1v6);
    expect(await reaches(c1, A.inet4)).toBe(A.up4); // IPv4 is always NATed
    const before = await firewallCounters(gwRunner);
    await blocked(inet, A.c1v6);
    await blocked(inet, A.c2v6, PORT, 'udp');
    const after = await firewallCounters(gwRunner);
    expect(delta(after, before, 'inbound_new')).toBeGreaterThanOrEqual(2);
    await blocked(c1, A.c2v6);
    await applyFirewall(gwRunner, state());
    expect(await reaches(c1, A.inet6)).toBe(A.up6);
  });

  it('clamps the MSS of SYNs crossing the tunnel, both ways, and never raises it', async () => {
    const dump = (ns: Namespace, dev: string) =>
      ns.spawn(`tcpdump-${dev}`, 'tcpdump', ['-l', '-n', '-v', '-i', dev, `tcp port ${PORT}`]);
    const up = dump(gw, UPLINK);
    const c1dump = dump(c1, 'mg-c1');
    await Promise.all([up.waitFor(/listening on/, 10_000), c1dump.waitFor(/listening on/, 10_000)]);
    await reaches(c1, A.inet4);
    await reaches(c1, A.inet6);
    await reaches(c2, A.inet4);
    await reaches(c2, A.inet6);
    await sleep(300);
    await Promise.all([up.stop(), c1dump.stop()]);

    /** "src > dst Flags [S] mss N" of every SYN and SYN-ACK in tcpdump's text. */
    const syns = (text: string) =>
      [...text.matchAll(/ (\S+) > (\S+): Flags \[(S\.?)\][^\n]*?mss (\d+)/g)].map((m) => ({
        src: m[1]!.replace(/\.\d+$/, ''),
        dst: m[2]!.replace(/\.\d+$/, ''),
        flags: m[3]!,
        mss: Number(m[4]),
      }));
    const atUplink = syns(up.output());
    const atClient = syns(c1dump.output());
    const mssOf = (list: typeof atUplink, flags: string, src: string, dst: string) =>
      list.filter((p) => p.flags === flags && p.src === src && p.dst === dst).map((p) => p.mss);
    // c1's SYNs (MSS 1460 / 1440 from its 1500-byte link) leave the uplink clamped to the tunnel MTU …
    expect(mssOf(atUplink, 'S', A.up4, A.inet4)).toContain(MTU - 40);
    expect(mssOf(atUplink, 'S', A.up6, A.inet6)).toContain(MTU - 60);
    // … c2's (advmss 1000) keep their smaller value …
    expect(mssOf(atUplink, 'S', A.up4, A.inet4)).toContain(1000);
    expect(mssOf(atUplink, 'S', A.up6, A.inet6)).toContain(1000);
    expect(atUplink.filter((p) => p.flags === 'S').every((p) => p.mss === 1000 || p.mss <= MTU - 40)).toBe(true);
    // … and the server's SYN-ACKs reach the client clamped too.
    expect(mssOf(atClient, 'S.', A.inet4, A.c1v4)).toEqual([MTU - 40]);
    expect(mssOf(atClient, 'S.', A.inet6, A.c1v6)).toEqual([MTU - 60]);
    // The server's own SYN-ACKs left it unclamped (sanity: the clamp, not the server, lowered them).
    expect(mssOf(atUplink, 'S.', A.inet4, A.up4)).toContain(1460);
  });

  it('re-applying is idempotent, keeps the counters and leaves the foreign table alone', async () => {
    await applyFirewall(gwRunner, state());
    await blocked(c1, A.c2v4);
    const list1 = (await gw.exec('nft', ['list', 'table', 'inet', 'meshgate'])).stdout;
    const counters1 = await firewallCounters(gwRunner);
    expect(Object.keys(counters1).sort()).toEqual([...FirewallCounters].sort());
    expect(counters1.client_to_client!.packets).toBeGreaterThan(0);

    await applyFirewall(gwRunner, state());
    const list2 = (await gw.exec('nft', ['list', 'table', 'inet', 'meshgate'])).stdout;
    const counters2 = await firewallCounters(gwRunner);
    expect(withoutCounts(list2)).toBe(withoutCounts(list1));
    for (const name of FirewallCounters) {
      expect(counters2[name]!.packets, name).toBeGreaterThanOrEqual(counters1[name]!.packets);
      expect(counters2[name]!.bytes, name).toBeGreaterThanOrEqual(counters1[name]!.bytes);
    }
    const tables = (await gw.exec('nft', ['list', 'tables'])).stdout.trim().split('\n').sort();
    expect(tables).toEqual(['table inet meshgate', 'table inet other']);
    expect((await gw.exec('nft', ['list', 'table', 'inet', 'other'])).stdout).toBe(otherListing);
  });

  it('the golden rulesets load into the real nft (check mode, nothing committed)', async () => {
    for (const file of ['firewall-nat66.nft', 'firewall-routed.nft', 'firewall-host-forwarding.nft']) {
      await gw.exec('nft', ['-c', '-f', path.join(TESTDATA, file)]);
    }
  });

  it('removeFirewall removes only our table, and again is a no-op', async () => {
    await removeFirewall(gwRunner);
    const tables = (await gw.exec('nft', ['list', 'tables'])).stdout.trim();
    expect(tables).toBe('table inet other');
    expect((await gw.exec('nft', ['list', 'table', 'inet', 'other'])).stdout).toBe(otherListing);
    await removeFirewall(gwRunner);
    expect((await gw.exec('nft', ['list', 'tables'])).stdout.trim()).toBe('table inet other');
    await expect(firewallCounters(gwRunner)).rejects.toMatchObject({ code: 'nft-failed' });
    // Nothing is filtered any more.
    expect(await reaches(c1, A.c2v4)).toBe(A.c1v4);
    expect(await reaches(left, A.right4)).toBe(A.left4);
  });

  it('restoreForwarding puts the previous values back', async () => {
    await restoreForwarding(gwRunner, forwarding);
    const read = async (key: string) => (await gw.exec('sysctl', ['-n', key])).stdout.trim();
    expect(await read('net.ipv4.ip_forward')).toBe('0');
    expect(await read('net.ipv6.conf.all.forwarding')).toBe('0');
    expect(await read(`net.ipv6.conf.${UPLINK}.accept_ra`)).toBe('1');
  });
});
