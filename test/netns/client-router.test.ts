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

/** What the router changes in A's namespace: the whole nft ruleset and the forwarding sysctls. */
async function dump(ns: Namespace): Promise<Record<string, string>> {
  const out: Record<string, string> = { ruleset: await nft(ns, 'list', 'ruleset') };
  for (const key of FORWARDING) out[key] = await sysctlValue(ns, key);
  return out;
}

const noTentative = (ns: Namespace) =>
  eventually(
    `no tentative address in ${ns.name}`,
    async () => ((await ns.ip('addr')).stdout.includes('tentative') ? undefined : true),
    10_000,
  );

describe.skipIf(skipReason !== null)('meshgate client with router: a LAN behind it', () => {
  test('the LAN reaches the Internet over IPv4 and IPv6 through the tunnel only; A restored after SIGINT and SIGKILL', async () => {
    const gs = await GatewayScene.build('crtr');
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
    await gs.startGateway();
    const before = await dump(gs.ca);
    expect(before['net.ipv4.ip_forward']).toBe('0');
    const configFile = gs.file('alice.yaml');
    const start = () =>
      gs.startClientA(20_000, {
        routes: ['default'],
        dns: false,
        killSwitch: true,
        router: { lanInterface: LAN_DEV, ipv6: 'nat66' },
      });

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

    // ---- 3a. SIGINT: ruleset and forwarding as before ----
    process.kill(agent.pid, 'SIGINT');
    expect((await agent.exited).code).toBe(0);
    expect(await dump(gs.ca)).toEqual(before);

    // ---- 3b. SIGKILL: left up, then `meshgate client down` ----
    const killed = await start();
    process.kill(killed.pid, 'SIGKILL');
    await killed.exited;
    expect(await nft(gs.ca, 'list', 'tables')).toMatch(/inet meshgate_router/);
    const down = await gs.ca.exec('node', [MESHGATE_BIN, 'client', 'down', '--config', configFile], { check: false });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await dump(gs.ca)).toEqual(before);
  }, 180_000);
});
