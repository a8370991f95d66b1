// `meshgate client status` and `meshgate show` on a real agent (gateway scene,
// gateway-scene.ts): client A runs with routes: [default] and killSwitch: true.
// The status names the gateway with a current session and its handshake, the
// lease from the agent's log with its time left, the default route's table
// (the one the fwmark rule names) and families, and the kill switch's blocked
// count as nftables has it: pings bound to mesh0 (past every route) raise it
// by as many as were sent. After SIGINT: exit 1, "no tunnel named … is running".

import { describe, expect, test } from 'vitest';
import type { AgentStatus } from '../../client/agent-status.js';
import { MESHGATE_BIN, netnsSkip, teardownScenesAfterEach } from './harness.js';
import { GatewayScene, NET, canonicalIp, httpGet, httpUrl, nftCounters } from './gateway-scene.js';

const skipReason = netnsSkip('client status tests', { commands: ['ip', 'nft', 'sysctl'], ping: true });
const KILL_SWITCH = 'meshgate_killswitch';
const PINGS = 3;

teardownScenesAfterEach();

describe.skipIf(skipReason !== null)('meshgate client status', () => {
  test('gateway, lease, default route and kill switch with its nft counter; exit 1 once the agent stopped', async () => {
    const gs = await GatewayScene.build('cst');
    // A's LAN router is the gateway box: a probe bound to mesh0 has a route to leave by.
    await gs.ca.ip('-4', 'route', 'add', 'default', 'via', NET.gwMesh4, 'dev', 'mesh0');
    await gs.startGateway();
    const agent = await gs.startClientA(20_000, { routes: ['default'], killSwitch: true, dns: false });
    const lease = gs.clientALease();
    const r = await httpGet(gs.ca, httpUrl(NET.inet4, NET.httpPort, '/whoami'), { timeoutS: 10 });
    expect(r).toMatchObject({ ok: true });

    const configFile = gs.file('alice.yaml');
    const status = async (...extra: string[]) =>
      gs.ca.exec('node', [MESHGATE_BIN, 'client', 'status', '--config', configFile, ...extra], { check: false });
    const json = async () => {
      const out = await status('--json');
      expect(out.exitCode, out.stderr).toBe(0);
      return JSON.parse(out.stdout) as { peers: { publicKey: string }[]; agent: AgentStatus };
    };

    const first = await json();
    const a = first.agent;
    const endpoint = `[${NET.gwMesh6}]:${NET.listenPort}`;
    expect(a.gateways).toEqual([
      {
        name: 'gw1',
        publicKey: gs.keys.gateway.publicKey,
        endpoint,
        endpoints: [endpoint],
        priority: 1,
        current: true,
        session: true,
        lastHandshake: expect.any(Number) as number,
        healthy: true,
        uplink: 'up', // the one gateway answers the probes too
        rttMs: expect.any(Number) as number,
        lease: { ipv4: `${lease.ipv4}/32`, ipv6: expect.stringMatching(/\/(128|64)$/) as string },
      },
    ]);
    expect(a.failover).toMatchObject({ switches: 1, last: { from: null, to: 'gw1', reason: 'start' } });
    expect(Math.abs(Date.now() / 1000 - a.gateways[0]!.lastHandshake)).toBeLessThan(30);
    expect(canonicalIp(a.lease!.ipv4!.split('/')[0]!)).toBe(lease.ipv4);
    expect(canonicalIp(a.lease!.ipv6!.split('/')[0]!)).toBe(lease.ipv6);
    expect(a.lease!.lifetimeLeft).toBeGreaterThan(0);
    expect(a.lease!.dnsApplied).toBeNull(); // dns: false
    const rule = /not from all fwmark 0x([0-9a-f]+) lookup (\d+)/.exec((await gs.ca.ip('-4', 'rule')).stdout);
    expect(rule, 'the fwmark rule').not.toBeNull();
    expect(a.routing).toEqual({ defaultRoute: true, table: Number(rule![2]), families: [4, 6], lan: 'outside' });
    expect(a.killSwitch.on).toBe(true);
    expect(a.killSwitch.table).toBe(KILL_SWITCH);
    expect(a.rxBytes).toBeGreaterThan(0);
    expect(a.txBytes).toBeGreaterThan(0);

    // Pings bound to mesh0: each one dropped and counted; the status reads the same counter.
    const blockedBefore = (await nftCounters(gs.ca, 'inet', KILL_SWITCH, { required: true })).blocked!;
    expect(a.killSwitch.blocked).toBe(blockedBefore);
    await gs.ca.exec('ping', ['-4', '-c', String(PINGS), '-i', '0.2', '-W', '1', '-I', 'mesh0', NET.inet4], {
      check: false,
    });
    const blockedAfter = (await nftCounters(gs.ca, 'inet', KILL_SWITCH, { required: true })).blocked!;
    expect(blockedAfter - blockedBefore).toBeGreaterThanOrEqual(PINGS);
    expect((await json()).agent.killSwitch.blocked).toBe(blockedAfter);

    // The text: the agent's lines under the tunnel's; meshgate show on the interface gives the same.
    const text = await status();
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toContain(`interface: ${gs.caTun}`);
    expect(text.stdout).toContain(
      `  gateway (current): ${gs.keys.gateway.publicKey} at [${NET.gwMesh6}]:${NET.listenPort}, up, latest handshake`,
    );
    expect(text.stdout).toContain(`  default route: on, table ${rule![2]}, IPv4 and IPv6; lan: outside`);
    expect(text.stdout).toContain(`  kill switch: on (inet ${KILL_SWITCH}), ${blockedAfter} packets blocked`);
    expect(text.stdout).toContain('  private key: (hidden)');
    expect(text.stdout + JSON.stringify(first)).not.toContain(gs.keys.alice.privateKey);
    const show = await gs.ca.exec('node', [MESHGATE_BIN, 'show', gs.caTun], { check: false });
    expect(show.exitCode, show.stderr).toBe(0);
    expect(show.stdout).toContain(`  kill switch: on (inet ${KILL_SWITCH}), ${blockedAfter} packets blocked`);

    process.kill(agent.pid, 'SIGINT');
    expect((await agent.exited).code).toBe(0);
    const gone = await status();
    expect(gone.exitCode).toBe(1);
    expect(gone.stderr).toBe(`meshgate: no tunnel named ${gs.caTun} is running\n`);
  }, 120_000);
});
