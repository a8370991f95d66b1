// `meshgate up` with a full-tunnel wg-quick file (AllowedIPs = 0.0.0.0/0, ::/0,
// as `meshgate gateway export-client` writes it), in network namespaces:
//
//   mg-c-ID (client)                          mg-g-ID (server)
//   veth 192.0.2.2/24, 2001:db8:77::2/64  ──  veth 192.0.2.1/24, 2001:db8:77::1/64
//   main: default via 192.0.2.1 (and ::1)     lo: 203.0.113.1 (the endpoint, reached
//   meshgate up: tunnel 10.77.0.2,                only through the client's default route)
//     fd00:77::2                                  198.51.100.1, 2001:db8:100::1 ("Internet")
//                                             wireguard-go: 10.77.0.1, fd00:77::1
//
// 1. The default routes go into the tunnel through a table of their own, while
//    the tunnel's own UDP (fwmark) still leaves by the main default route: the
//    handshake is made, the "Internet" addresses are reached through the
//    tunnel, and the underlay subnet stays on the veth.
// 2. SIGTERM puts rules, tables and src_valid_mark back as they were.
// 3. Table = off installs no routes and no rules.

import { describe, expect, test } from 'vitest';
import {
  MESHGATE_BIN,
  Scene,
  genKeyPair,
  netnsSkip,
  waitForPing,
  type Namespace,
  teardownScenesAfterEach,
} from './harness.js';

const skipReason = netnsSkip('default-route tests', {
  commands: ['ip', 'wireguard-go', 'wg'],
  ping: true,
  built: true,
});

const ENDPOINT = '203.0.113.1';
const INTERNET4 = '198.51.100.1';
const INTERNET6 = '2001:db8:100::1';

teardownScenesAfterEach();

/** What policy routing looks like in a namespace: rules of both families, table 51820, src_valid_mark. */
async function routingState(ns: Namespace): Promise<string> {
  const rules4 = (await ns.ip('-4', 'rule', 'show')).stdout;
  const rules6 = (await ns.ip('-6', 'rule', 'show')).stdout;
  // (`ip -4 route show table N` fails while table N was never made: as empty)
  const t4 = (await ns.exec('ip', ['-4', 'route', 'show', 'table', '51820'], { check: false })).stdout;
  const t6 = (await ns.exec('ip', ['-6', 'route', 'show', 'table', '51820'], { check: false })).stdout;
  const mark = (await ns.exec('sysctl', ['-n', 'net.ipv4.conf.all.src_valid_mark'])).stdout.trim();
  return [rules4, rules6, `table4: ${t4}`, `table6: ${t6}`, `src_valid_mark=${mark}`].join('\n');
}

async function routeDev(ns: Namespace, to: string, ...extra: string[]): Promise<string> {
  const out = (await ns.ip(to.includes(':') ? '-6' : '-4', 'route', 'get', to, ...extra)).stdout;
  return /\bdev (\S+)/.exec(out)?.[1] ?? `(no dev in: ${out})`;
}

async function scene() {
  const s = await Scene.create('defroute');
  const c = await s.namespace('c');
  const g = await s.namespace('g');
  const veth = await s.veth(c, g, {
    a: ['192.0.2.2/24', '2001:db8:77::2/64'],
    b: ['192.0.2.1/24', '2001:db8:77::1/64'],
  });
  await c.ip('-4', 'route', 'add', 'default', 'via', '192.0.2.1');
  await c.ip('-6', 'route', 'add', 'default', 'via', '2001:db8:77::1');
  for (const a of [`${ENDPOINT}/32`, `${INTERNET4}/32`, `${INTERNET6}/128`]) await g.addAddress('lo', a);
  const client = genKeyPair();
  const server = genKeyPair();
  const wg = await s.wireguardGo(g, {
    privateKey: server.privateKey,
    listenPort: 51820,
    addresses: ['10.77.0.1/24', 'fd00:77::1/64'],
    peers: [{ publicKey: client.publicKey, allowedIps: ['10.77.0.2/32', 'fd00:77::2/128'] }],
  });
  const conf = (table?: string) =>
    [
      '[Interface]',
      `PrivateKey = ${client.privateKey}`,
      'Address = 10.77.0.2/24, fd00:77::2/64',
      ...(table ? [`Table = ${table}`] : []),
      '',
      '[Peer]',
      `PublicKey = ${server.publicKey}`,
      'AllowedIPs = 0.0.0.0/0, ::/0',
      `Endpoint = ${ENDPOINT}:51820`,
    ].join('\n') + '\n';
  /** Runs `meshgate up` on a wg-quick file written with `table` and waits for "ready". */
  const up = async (name: string, table?: string) => {
    const file = s.writeFile(`${name}.conf`, conf(table));
    const proc = c.spawn(`meshgate-${name}`, 'node', [MESHGATE_BIN, 'up', file]);
    await proc.waitFor(/"event"\s*:\s*"ready"/, 20_000);
    return proc;
  };
  return { s, c, g, veth, wg, client, up };
}

describe.skipIf(skipReason !== null)('meshgate up with default routes (full tunnel)', () => {
  test('default routes through the tunnel, its own packets outside it; all put back on SIGTERM', async () => {
    const { s, c, veth, wg, client, up } = await scene();
    const before = await routingState(c);
    expect(await routeDev(c, INTERNET4)).toBe(veth.a); // the plain default route, before
    const name = s.ifname('m');
    const proc = await up(name);
    expect(proc.output()).toMatch(/"event":"default-routes".*"table":51820/);

    // Everything without the mark goes into the tunnel; the main table's specific routes still win.
    expect(await routeDev(c, INTERNET4)).toBe(name);
    expect(await routeDev(c, INTERNET6)).toBe(name);
    expect(await routeDev(c, ENDPOINT)).toBe(name); // unmarked, even the endpoint...
    expect(await routeDev(c, ENDPOINT, 'mark', '51820')).toBe(veth.a); // ...but the tunnel's own packets leave by the veth
    expect(await routeDev(c, '192.0.2.77')).toBe(veth.a); // the local subnet stays local

    await waitForPing(c, INTERNET4, 15_000);
    await waitForPing(c, INTERNET6, 15_000);
    const peer = await wg.peer(client.publicKey);
    expect(peer.latestHandshake).toBeGreaterThan(0);
    expect(peer.endpoint).toMatch(/^192\.0\.2\.2:/);
    expect(peer.rxBytes).toBeGreaterThan(0);

    const exit = await proc.stop();
    expect(exit.code).toBe(0);
    expect(await routingState(c)).toBe(before);
    expect(await routeDev(c, INTERNET4)).toBe(veth.a);
  });

  test('Table = off: no routes and no rules, only the addresses', async () => {
    const { s, c, up } = await scene();
    const before = await routingState(c);
    const name = s.ifname('m');
    const proc = await up(name, 'off');
    expect(proc.output()).not.toMatch(/"event":"default-routes"/);
    expect(await routingState(c)).toBe(before);
    const routes = (await c.ip('-4', 'route', 'show', 'dev', name)).stdout;
    expect(routes.trim()).toMatch(/^10\.77\.0\.0\/24 proto kernel scope link src 10\.77\.0\.2$/);
    expect((await proc.stop()).code).toBe(0);
  });
});
