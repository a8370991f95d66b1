// Proof 4 of issue 10: the client agent's kill switch (client/kill-switch.ts) on the
// gateway scene (gateway-scene.ts). Client A (mg-ca-…) gets default routes to the
// gateway's mesh address, as a machine whose LAN router is the gateway box: without
// the kill switch, anything not in the tunnel leaves on mesh0 (checked first).
//
// Counted where it would arrive: a table in the gateway namespace counts what comes
// in on its mesh0 for the Internet namespace's addresses (probe) and the tunnel's
// UDP to the endpoint port (tunnel), whether or not the gateway process runs. Probes
// from A: ping, a UDP datagram and a TCP SYN to 198.51.100.1 / 2001:db8:100::1, each
// routed and bound to mesh0 (SO_BINDTODEVICE, past every route).
//
// 1. Before the first lease (the gateway not running): probe = 0, tunnel > 0 (the
//    handshake initiations), the kill switch's own counter counts the drops.
// 2. The gateway starts: the lease comes, HTTP over IPv4 and IPv6 goes through the tunnel.
//    A LAN that comes up now (a veth to a new namespace) is allowed within a refresh.
// 3. The gateway stops (every gateway down): probe = 0, tunnel > 0.
// 4. The gateway comes back: HTTP works again.
// 5. SIGINT: the table is gone, `nft list ruleset` equals the one before; SIGKILL
//    leaves it (fail closed), a new start keeps it up until its own replaces it,
//    and `meshgate client down --config F` removes it.

import { describe, expect, test } from 'vitest';
import { MESHGATE_BIN, netnsSkip, teardownScenesAfterEach, type Namespace } from './harness.js';
import { GatewayScene, NET, canonicalIp, eventually, httpGet, httpUrl, nftCounters } from './gateway-scene.js';

const skipReason = netnsSkip('client kill-switch tests', { commands: ['ip', 'nft', 'sysctl', 'bash'], ping: true });

const KILL_SWITCH = 'meshgate_killswitch';
const COUNT_TABLE = 'mgcount';
/** A port nothing listens on in the Internet namespace (discard). */
const PROBE_PORT = 9;

teardownScenesAfterEach();

/** Counters in gw: what arrives on mesh0 for the Internet namespace, and the tunnel's UDP. */
async function installCounters(gw: Namespace): Promise<void> {
  const text = [
    `table inet ${COUNT_TABLE} {`,
    '\tcounter probe {',
    '\t}',
    '\tcounter tunnel {',
    '\t}',
    '\tchain pre {',
    '\t\ttype filter hook prerouting priority -310; policy accept;',
    `\t\tiifname "mesh0" ip daddr ${NET.inet4} counter name "probe"`,
    `\t\tiifname "mesh0" ip6 daddr ${NET.inet6} counter name "probe"`,
    `\t\tiifname "mesh0" udp dport ${NET.listenPort} counter name "tunnel"`,
    '\t}',
    '}',
    '',
  ].join('\n');
  await gw.exec('nft', ['-f', '-'], { input: text });
}

const counts = (gw: Namespace) => nftCounters(gw, 'inet', COUNT_TABLE, { required: true });

/** Every kind of probe, IPv4 and IPv6, routed and bound to mesh0; each may fail (that is the point). */
async function probe(ns: Namespace): Promise<void> {
  for (const address of [NET.inet4, NET.inet6]) {
    const family = address.includes(':') ? '-6' : '-4';
    await ns.exec('ping', [family, '-c', '1', '-W', '1', address], { check: false });
    await ns.exec('ping', [family, '-c', '1', '-W', '1', '-I', 'mesh0', address], { check: false });
    // bash's /dev/udp and /dev/tcp: one datagram, one SYN (connect), 2 s at most.
    await ns.exec('bash', ['-c', `echo probe > /dev/udp/${address}/${PROBE_PORT}`], { check: false });
    await ns.exec('timeout', ['2', 'bash', '-c', `exec 3<>/dev/tcp/${address}/${NET.httpPort}`], { check: false });
  }
}

async function throughTunnel(gs: GatewayScene, timeoutMs: number): Promise<void> {
  for (const [address, from] of [
    [NET.inet4, NET.uplink4],
    [NET.inet6, NET.uplink6],
  ] as const) {
    await eventually(
      `whoami ${address} through the tunnel`,
      async () => {
        const r = await httpGet(gs.ca, httpUrl(address, NET.httpPort, '/whoami'), { timeoutS: 3 });
        return r.ok && canonicalIp(String(r.body).trim()) === canonicalIp(from) ? true : undefined;
      },
      timeoutMs,
      500,
    );
  }
}

const ruleset = async (ns: Namespace) => (await ns.exec('nft', ['list', 'ruleset'])).stdout;

/**
 * Sends the probes from client A while its kill switch holds: none may reach
 * the gateway's underlay, while the tunnel's own UDP to the endpoint still goes
 * out (waited for up to `timeoutMs`).
 */
async function probesStayIn(gs: GatewayScene, when: string, timeoutMs: number): Promise<Record<string, number>> {
  const before = await counts(gs.gw);
  await probe(gs.ca);
  await eventually(
    `the tunnel still sends to the endpoint ${when}`,
    async () => ((await counts(gs.gw)).tunnel! > before.tunnel! ? true : undefined),
    timeoutMs,
  );
  const after = await counts(gs.gw);
  expect(after.probe! - before.probe!, `probes leaving ${when}`).toBe(0);
  return after;
}

describe.skipIf(skipReason !== null)('meshgate client with killSwitch: true', () => {
  test('nothing leaves outside the tunnel before the lease and with every gateway down; the table goes on SIGINT and client down', async () => {
    const gs = await GatewayScene.build('cks');
    // A's LAN router is the gateway box: its default routes point at gw's mesh addresses.
    await gs.ca.ip('-4', 'route', 'add', 'default', 'via', NET.gwMesh4, 'dev', 'mesh0');
    await gs.ca.ip('-6', 'route', 'add', 'default', 'via', NET.gwMesh6, 'dev', 'mesh0');
    await installCounters(gs.gw);
    const before = await ruleset(gs.ca);

    // ---- 0. without the agent the probes leave on mesh0 (the counter sees them) ----
    await probe(gs.ca);
    const open = await counts(gs.gw);
    expect(open.probe, 'probes counted without the kill switch').toBeGreaterThanOrEqual(8);

    // ---- 1. the agent with the kill switch, no gateway: before the first lease ----
    const configFile = gs.file('alice.yaml');
    const up = gs.startClientA(60_000, { routes: ['default'], killSwitch: true, dns: false });
    up.catch(() => undefined); // awaited below; a failure there is the test's
    const agent = () => gs.clientA!;
    await eventually('the client spawned', async () => (gs.clientA ? true : undefined), 5_000, 50);
    await agent().waitFor(/"event":"kill-switch"/, 15_000);
    expect(await ruleset(gs.ca)).toContain(`table inet ${KILL_SWITCH}`);
    await probesStayIn(gs, 'before the first lease', 10_000);
    const blocked1 = (await nftCounters(gs.ca, 'inet', KILL_SWITCH, { required: true })).blocked!;
    expect(blocked1, 'drops counted by the kill switch').toBeGreaterThanOrEqual(8);

    // ---- 2. the gateway starts: the lease comes, traffic flows through the tunnel ----
    await gs.startGateway();
    await up;
    await throughTunnel(gs, 20_000);

    // ---- 2b. a LAN that comes up while the agent runs is let through at the next refresh (5 s) ----
    const lan = await gs.scene.namespace('lan');
    await gs.scene.veth(gs.ca, lan, { names: ['lan1', 'eth0'], a: ['203.0.113.1/24'], b: ['203.0.113.20/24'] });
    const lanUp = Date.now();
    await agent().waitFor(/"event":"kill-switch-lan".*203\.0\.113\.0\/24/, 10_000);
    const ping = await gs.ca.exec('ping', ['-4', '-c', '1', '-W', '2', '203.0.113.20'], { check: false });
    expect(ping.exitCode, `the new LAN after ${Date.now() - lanUp} ms: ${ping.stdout}`).toBe(0);

    // ---- 3. every gateway down: nothing leaves but the tunnel's UDP ----
    await gs.stopGateway();
    const d3 = await probesStayIn(gs, 'with the gateway down', 20_000);
    expect((await nftCounters(gs.ca, 'inet', KILL_SWITCH)).blocked).toBeGreaterThan(blocked1);

    // ---- 4. the gateway comes back: traffic flows again ----
    await gs.startGateway();
    await throughTunnel(gs, 45_000);
    expect((await counts(gs.gw)).probe! - d3.probe!, 'nothing outside the tunnel after the return').toBe(0);

    // ---- 5a. SIGINT: the table is gone, the ruleset as before ----
    process.kill(agent().pid, 'SIGINT');
    expect((await agent().exited).code).toBe(0);
    expect(await ruleset(gs.ca)).toBe(before);

    // ---- 5b. SIGKILL keeps it (fail closed), meshgate client down removes it ----
    const killed = await gs.startClientA(30_000, { routes: ['default'], killSwitch: true, dns: false });
    process.kill(killed.pid, 'SIGKILL');
    await killed.exited;
    expect(await ruleset(gs.ca)).toContain(`table inet ${KILL_SWITCH}`);
    const c5 = await counts(gs.gw);
    await probe(gs.ca);
    expect((await counts(gs.gw)).probe! - c5.probe!, 'probes leaving after a SIGKILL').toBe(0);
    // A new start after the SIGKILL keeps the old table up until its own replaces it; killed again, then down.
    const restarted = await gs.startClientA(30_000, { routes: ['default'], killSwitch: true, dns: false });
    expect(restarted.output()).toMatch(/"event":"leftovers-undone".*"killSwitchKept":true/);
    await throughTunnel(gs, 20_000);
    process.kill(restarted.pid, 'SIGKILL');
    await restarted.exited;
    expect(await ruleset(gs.ca)).toContain(`table inet ${KILL_SWITCH}`);
    const down = await gs.ca.exec('node', [MESHGATE_BIN, 'client', 'down', '--config', configFile], { check: false });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await ruleset(gs.ca)).toBe(before);
  }, 240_000);
});
