// Proof 5 of issue 10: the client agent as a router for a LAN behind it, on the
// gateway scene (gateway-scene.ts) with one more namespace:
//
//   mg-lan-ID  a LAN host: eth0 203.0.113.10/24 2001:db8:50::10/64, default routes via A
//        │ veth
//   mg-ca-ID   lan0 203.0.113.1/24 2001:db8:50::1/64; `meshgate client` with
//              routes: [default], killSwitch: true, router: { lanInterface: lan0 }
//
// 1. The LAN host fetches content-checked data from the Internet namespace over
//    IPv4 and IPv6; the Internet server sees only the gateway's uplink address
//    (A masquerades into its lease, the gateway NATs the lease to its uplink).
// 2. The LAN host cannot bypass the tunnel: the gateway's mesh address (a route A
//    keeps outside the tunnel, lan: outside) is not reached from the LAN, and
//    the router's "bypass" counter counts the attempt.
// 3. After SIGINT, A's nft ruleset and forwarding sysctls are as before; after
//    SIGKILL, `meshgate client down` brings them back too.
//
// ipv6: routed, with a gateway in ipv6 mode routed handing out a /64 per client
// (pool 2001:db8:7000::/48, routed to the gateway by the Internet namespace):
// A puts the /64's ::1 on lan0, the LAN host takes an address in it (as the
// router's own RA daemon would have it do) and reaches the Internet with that
// very address, NATed by nobody; its IPv4 is still masqueraded. The LAN address
// goes with SIGINT, and with SIGKILL + `meshgate client down`.

import { describe, expect, test } from 'vitest';
import { MESHGATE_BIN, netnsSkip, teardownScenesAfterEach, type Namespace } from './harness.js';
import {
  GatewayScene,
  NET,
  canonicalIp,
  eventually,
  expectedSha256,
  httpGet,
  httpUrl,
  nft,
  nftCounters,
  requestsSeen,
  sysctlValue,
} from './gateway-scene.js';

const skipReason = netnsSkip('client router tests', { commands: ['ip', 'nft', 'sysctl'], ping: true });

const LAN = { router4: '203.0.113.1', router6: '2001:db8:50::1', host4: '203.0.113.10', host6: '2001:db8:50::10' };
const LAN_DEV = 'lan0';
const FORWARDING = ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding', 'net.ipv6.conf.mesh0.forwarding'];
const BYTES = 300_000;

teardownScenesAfterEach();

/** What the router changes in A's namespace: the whole nft ruleset, the forwarding sysctls, lan0's addresses. */
async function dump(ns: Namespace): Promise<Record<string, string>> {
  const out: Record<string, string> = { ruleset: await nft(ns, 'list', 'ruleset') };
  for (const key of FORWARDING) out[key] = await sysctlValue(ns, key);
  out.lan0 = (await ns.ip('-br', 'address', 'show', 'dev', LAN_DEV)).stdout;
  return out;
}

const noTentative = (ns: Namespace) =>
  eventually(
    `no tentative address in ${ns.name}`,
    async () => ((await ns.ip('addr')).stdout.includes('tentative') ? undefined : true),
    10_000,
  );

/** The gateway scene with a LAN namespace behind client A (lan0 ↔ eth0), default routes via A. */
async function lanScene(id: string): Promise<{ gs: GatewayScene; lan: Namespace }> {
  const gs = await GatewayScene.build(id);
  const lan = await gs.scene.namespace('lan');
  await gs.scene.veth(gs.ca, lan, {
    names: [LAN_DEV, 'eth0'],
    a: [`${LAN.router4}/24`, `${LAN.router6}/64`],
    b: [`${LAN.host4}/24`, `${LAN.host6}/64`],
  });
  await noTentative(lan);
  await noTentative(gs.ca);
  await lan.ip('-4', 'route', 'add', 'default', 'via', LAN.router4, 'dev', 'eth0');
  await lan.ip('-6', 'route', 'add', 'default', 'via', LAN.router6, 'dev', 'eth0');
  return { gs, lan };
}

/** Client A as the LAN's router, with the kill switch. */
const startRouter = (gs: GatewayScene, ipv6: 'nat66' | 'routed') =>
  gs.startClientA(20_000, {
    routes: ['default'],
    dns: false,
    killSwitch: true,
    router: { lanInterface: LAN_DEV, ipv6 },
  });

type Agent = Awaited<ReturnType<GatewayScene['startClientA']>>;

/**
 * A's namespace as `before` after SIGINT of `agent`, and again after a SIGKILL of
 * a new start (the router's table left in place) and `meshgate client down`.
 */
async function expectRestored(
  gs: GatewayScene,
  agent: Agent,
  start: () => Promise<Agent>,
  before: Record<string, string>,
): Promise<void> {
  process.kill(agent.pid, 'SIGINT');
  expect((await agent.exited).code).toBe(0);
  expect(await dump(gs.ca)).toEqual(before);
  const killed = await start();
  process.kill(killed.pid, 'SIGKILL');
  await killed.exited;
  expect(await nft(gs.ca, 'list', 'tables')).toMatch(/inet meshgate_router/);
  const down = await gs.ca.exec('node', [MESHGATE_BIN, 'client', 'down', '--config', gs.file('alice.yaml')], {
    check: false,
  });
  expect(down.exitCode, down.stderr).toBe(0);
  expect(await dump(gs.ca)).toEqual(before);
}

describe.skipIf(skipReason !== null)('meshgate client with router: a LAN behind it', () => {
  test('the LAN reaches the Internet over IPv4 and IPv6 through the tunnel only; A restored after SIGINT and SIGKILL', async () => {
    const { gs, lan } = await lanScene('crtr');
    await gs.startGateway();
    const before = await dump(gs.ca);
    expect(before['net.ipv4.ip_forward']).toBe('0');
    const start = () => startRouter(gs, 'nat66');

    // ---- 1. the LAN through the tunnel, content-checked, seen as the gateway's uplink ----
    const agent = await start();
    expect(await sysctlValue(gs.ca, 'net.ipv4.ip_forward')).toBe('1');
    expect(await sysctlValue(gs.ca, 'net.ipv6.conf.all.forwarding')).toBe('1');
    for (const [family, address, uplink] of [
      [4, NET.inet4, NET.uplink4],
      [6, NET.inet6, NET.uplink6],
    ] as const) {
      const seed = `lan${family}`;
      const r = await httpGet(lan, httpUrl(address, NET.httpPort, `/data/${BYTES}?seed=${seed}`), { timeoutS: 20 });
      expect(r, `LAN data over IPv${family}: ${JSON.stringify(r)}`).toMatchObject({ ok: true, bytes: BYTES });
      expect(r.sha256).toBe(expectedSha256(BYTES, seed));
      const who = await httpGet(lan, httpUrl(address, NET.httpPort, '/whoami'), { timeoutS: 10 });
      expect(who, `LAN whoami over IPv${family}`).toMatchObject({ ok: true });
      expect(canonicalIp(String(who.body).trim())).toBe(canonicalIp(uplink));
    }
    const seen = requestsSeen(gs.servers.inet).map((q) => canonicalIp(q.remote));
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expect(new Set(seen)).toEqual(new Set([NET.uplink4, canonicalIp(NET.uplink6)]));

    // ---- 2. no way around the tunnel: the mesh LAN A reaches directly is closed to the LAN host ----
    const bypassBefore = (await nftCounters(gs.ca, 'inet', 'meshgate_router', { required: true })).bypass ?? 0;
    const around = await httpGet(lan, httpUrl(NET.gwMesh4, NET.gwHttpPort, '/whoami'), { timeoutS: 3 });
    expect(around.ok).toBe(false);
    const bypassAfter = (await nftCounters(gs.ca, 'inet', 'meshgate_router', { required: true })).bypass ?? 0;
    expect(bypassAfter).toBeGreaterThan(bypassBefore);

    // ---- 3. SIGINT, and SIGKILL + `meshgate client down`: ruleset and forwarding as before ----
    await expectRestored(gs, agent, start, before);
  }, 180_000);

  test('ipv6: routed: the lease /64 on the LAN, its hosts reach the Internet by their own address; gone after SIGINT and SIGKILL', async () => {
    const { gs, lan } = await lanScene('crtd');
    const pool = '2001:db8:7000::/48';
    gs.writeGatewayConfig({ extra: { ipv6: { mode: 'routed', pool, leasePrefixLength: 64 } } });
    // The Internet routes the pool to the gateway (routed: no NAT66 there either).
    await gs.inet.ip('-6', 'route', 'add', pool, 'via', NET.uplink6, 'dev', 'isp0');
    await gs.startGateway();
    const before = await dump(gs.ca);
    const start = () => startRouter(gs, 'routed');

    const agent = await start();
    const prefix = gs.clientALease().ipv6; // the /64's first address, as the gateway sends it
    expect(prefix).toMatch(/^2001:db8:7000:/);
    const routerAddress = canonicalIp(prefix.replace(/::$/, '::1'));
    const hostAddress = canonicalIp(prefix.replace(/::$/, '::10'));
    expect((await gs.ca.ip('-6', 'address', 'show', 'dev', LAN_DEV)).stdout).toContain(`${routerAddress}/64`);
    expect((await gs.ca.ip('-6', 'address', 'show', 'dev', gs.caTun)).stdout).not.toContain('2001:db8:7000');
    // What the router's RA daemon would have the host do: an address in the /64, the router as gateway.
    await lan.ip('-6', 'address', 'add', `${hostAddress}/64`, 'dev', 'eth0', 'nodad');
    await lan.ip('-6', 'route', 'replace', 'default', 'via', routerAddress, 'dev', 'eth0', 'src', hostAddress);

    const routedBefore = (await nftCounters(gs.ca, 'inet', 'meshgate_router', { required: true })).routed ?? 0;
    const who6 = await httpGet(lan, httpUrl(NET.inet6, NET.httpPort, '/whoami'), { timeoutS: 10 });
    expect(who6, 'LAN whoami over IPv6').toMatchObject({ ok: true });
    expect(canonicalIp(String(who6.body).trim())).toBe(hostAddress);
    const routedAfter = (await nftCounters(gs.ca, 'inet', 'meshgate_router', { required: true })).routed ?? 0;
    expect(routedAfter).toBeGreaterThan(routedBefore);
    const seed = 'routed6';
    const data = await httpGet(lan, httpUrl(NET.inet6, NET.httpPort, `/data/${BYTES}?seed=${seed}`), { timeoutS: 20 });
    expect(data).toMatchObject({ ok: true, bytes: BYTES, sha256: expectedSha256(BYTES, seed) });
    const who4 = await httpGet(lan, httpUrl(NET.inet4, NET.httpPort, '/whoami'), { timeoutS: 10 });
    expect(canonicalIp(String(who4.body).trim())).toBe(NET.uplink4);

    await expectRestored(gs, agent, start, before);
  }, 180_000);
});
