// The gateway watches its own uplink (gateway/uplink-watch.ts), on the real
// gateway of the gateway scene (gateway-scene.ts: mg-inet ── isp0|up0 ── mg-gw):
//
//   1. up at start: `meshgate show --json` says uplink up
//   2. isp0 (the far end of the uplink veth) down in mg-inet: within 3 s the
//      gateway logs {"event":"uplink","state":"down","reason":"no-carrier"} at
//      warning, its status and the admin API's status say so; up0's operstate is measured and reported
//   3. isp0 up again: up (logged at info)
//   4. the default routes deleted in mg-gw: no-default-route; put back: up
//   5. restarted with uplinkCheck { targets: 198.51.100.1:80 and :81, interval 1 }:
//      up (80 answers, 81 refuses: both reached); an nft rule in mg-inet drops
//      tcp to both ports from the uplink address: check-failed after 2 rounds;
//      the rule narrowed to port 80: 81 refuses again, reached, up
//
// Every switch time is measured from the change to the status showing it.

import { describe, expect, test } from 'vitest';
import { jsonLines, netnsSkip, requireBuiltCli, teardownScenesAfterEach, type Namespace } from './harness.js';
import { meshgateCli } from './admin-scene.js';
import { GatewayScene, NET, eventually } from './gateway-scene.js';

const skipReason = netnsSkip('uplink watch tests', { commands: ['ip', 'nft'], built: true });
/** The brief's bound for a/b (checked every second). */
const DETECT_MS = 3_000;
/** Two rounds of 1 s with a 2 s connect timeout each, and slack. */
const CHECK_FAILED_MS = 10_000;
const REFUSED_PORT = 81;
const measured: string[] = [];

requireBuiltCli(skipReason);
teardownScenesAfterEach();

interface UplinkStatus {
  interface: string;
  up: boolean;
  reason: string | null;
  since: string;
}

async function uplinkOf(gs: GatewayScene): Promise<UplinkStatus> {
  return ((await gs.gatewayStatus()) as unknown as { uplink: UplinkStatus }).uplink;
}

/** Waits until the status shows `reason` (null: up); returns the ms from `since`. */
async function until(gs: GatewayScene, reason: string | null, timeoutMs: number, since: number): Promise<number> {
  const u = await eventually(
    `uplink ${reason ?? 'up'}`,
    async () => {
      const s = await uplinkOf(gs);
      return s.reason === reason ? s : undefined;
    },
    timeoutMs,
    100,
  );
  expect(u).toMatchObject({ interface: 'up0', up: reason === null, reason });
  expect(Date.parse(u.since)).toBeGreaterThanOrEqual(since - 1_000);
  return Date.now() - since;
}

function uplinkEvents(gs: GatewayScene): Record<string, unknown>[] {
  return jsonLines(gs.gateway!.output()).filter((e) => e.event === 'uplink');
}

async function sysfs(ns: Namespace, dev: string, file: string): Promise<string> {
  return (await ns.exec('cat', [`/sys/class/net/${dev}/${file}`], { check: false })).stdout.trim() || '(unreadable)';
}

describe.skipIf(skipReason !== null)('the gateway watches its uplink', () => {
  test('carrier, default route and uplinkCheck, each reported in the status and the log', async () => {
    const gs = await GatewayScene.build('upl');
    await gs.startGateway();

    // 1. Up at start, nothing logged (only changes are).
    expect(await uplinkOf(gs)).toMatchObject({ interface: 'up0', up: true, reason: null });
    expect(uplinkEvents(gs)).toEqual([]);

    // 2. The far end goes down: no carrier on up0.
    let t = Date.now();
    await gs.inet.ip('link', 'set', 'isp0', 'down');
    const cut = await until(gs, 'no-carrier', DETECT_MS, t);
    measured.push(`isp0 down -> no-carrier in the status: ${cut} ms`);
    const link = (await gs.gw.ip('-br', 'link', 'show', 'dev', 'up0')).stdout.trim().replace(/\s+/g, ' ');
    measured.push(
      `up0 with isp0 down: operstate ${await sysfs(gs.gw, 'up0', 'operstate')}, carrier ${await sysfs(gs.gw, 'up0', 'carrier')}, ip -br link: ${link}`,
    );
    // The admin API's figure (and so meshgate_uplink_up) reads the same watch.
    const admin = JSON.parse((await meshgateCli(gs, ['status', '--json'])).stdout) as { uplink: unknown };
    expect(admin.uplink).toEqual({ name: 'up0', up: false });
    expect(uplinkEvents(gs)).toEqual([
      expect.objectContaining({
        event: 'uplink',
        state: 'down',
        reason: 'no-carrier',
        level: 40,
        msg: 'uplink up0 is down: no carrier',
      }),
    ]);

    // 3. Back up.
    t = Date.now();
    await gs.inet.ip('link', 'set', 'isp0', 'up');
    measured.push(`isp0 up -> up: ${await until(gs, null, DETECT_MS, t)} ms`);
    measured.push(`up0 with isp0 up: operstate ${await sysfs(gs.gw, 'up0', 'operstate')}`);
    expect(uplinkEvents(gs).at(-1)).toMatchObject({ state: 'up', level: 30, msg: 'uplink up0 is up' });
    expect(uplinkEvents(gs).at(-1)).not.toHaveProperty('reason');

    // 4. No default route through the uplink (either family would do: both go).
    const routes =
      (await gs.gw.ip('route', 'show', 'default')).stdout + (await gs.gw.ip('-6', 'route', 'show', 'default')).stdout;
    expect(routes, 'both default routes survived the carrier loss').toMatch(
      /via 198\.51\.100\.1[\s\S]*via 2001:db8:100::1/,
    );
    t = Date.now();
    await gs.gw.ip('-4', 'route', 'del', 'default');
    await gs.gw.ip('-6', 'route', 'del', 'default');
    measured.push(
      `default routes deleted -> no-default-route: ${await until(gs, 'no-default-route', DETECT_MS, t)} ms`,
    );
    t = Date.now();
    await gs.gw.ip('-6', 'route', 'add', 'default', 'via', NET.inet6, 'dev', 'up0'); // IPv6 alone is enough
    await until(gs, null, DETECT_MS, t);
    await gs.gw.ip('-4', 'route', 'add', 'default', 'via', NET.inet4, 'dev', 'up0');
    expect(uplinkEvents(gs).map((e) => e.reason ?? e.state)).toEqual(['no-carrier', 'up', 'no-default-route', 'up']);

    // 5. The active check: port 80 answers, port 81 refuses; both count as reached.
    await gs.stopGateway();
    gs.writeGatewayConfig({
      extra: {
        uplinkCheck: { targets: [`${NET.inet4}:${NET.httpPort}`, `${NET.inet4}:${REFUSED_PORT}`], interval: 1 },
      },
    });
    await gs.startGateway();
    await until(gs, null, DETECT_MS, Date.now());
    await gs.inet.exec('nft', ['-f', '-'], { input: dropRules([NET.httpPort, REFUSED_PORT]) });
    t = Date.now();
    const failed = await until(gs, 'check-failed', CHECK_FAILED_MS, t);
    measured.push(`tcp to the targets dropped -> check-failed: ${failed} ms (2 rounds, 2 s timeout each)`);
    expect(failed).toBeGreaterThanOrEqual(3_500); // not after one round: two rounds of a 2 s timeout each
    expect(uplinkEvents(gs).at(-1)).toMatchObject({ state: 'down', reason: 'check-failed', level: 40 });
    // Port 81 refuses again (RST): something answered, so reached.
    await gs.inet.exec('nft', ['-f', '-'], { input: dropRules([NET.httpPort]) });
    t = Date.now();
    measured.push(`port 81 refusing again -> up: ${await until(gs, null, CHECK_FAILED_MS, t)} ms`);
    console.log(`uplink watch, measured:\n  ${measured.join('\n  ')}`);
  }, 90_000);
});

/** A table of the test's own in mg-inet dropping TCP from the uplink address to `ports` (replaced whole each time). */
function dropRules(ports: number[]): string {
  return [
    'table inet mg_upl_test',
    'delete table inet mg_upl_test',
    'table inet mg_upl_test {',
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    `    ip saddr ${NET.uplink4} tcp dport { ${ports.join(', ')} } drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}
