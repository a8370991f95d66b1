// Proofs 3 and 4 of issue 10 with two gateways (failover-scene.ts): the agent runs
// `gateways: [north (priority 1, two endpoints), south (priority 2)]`, probeInterval 1 s,
// deadAfter 3 s, holdDown 8 s, routes: [default], killSwitch and dns.
//
// 1. Start: it picks north (gateway-switch, reason start); whoami over IPv4 and IPv6 is
//    north's uplink address; resolv.conf has north's DNS; the mesh routes to both
//    gateways stay in the main table (the tunnel's marked UDP leaves on mesh0); status
//    lists both gateways healthy with their uplink up.
// 2. north's process is SIGKILLed at t0; a new HTTP connection per family every 200 ms
//    (1 s timeout): the first to succeed (t1) comes out of south, t1 - t0 < 5 s; the TUN
//    then holds south's addresses and resolv.conf south's DNS.
// 3. north restarts: the agent goes back after the hold-down, never earlier than 8 s after
//    north answers again; whoami says north; exactly the expected switches (no flapping).
// 4. north's uplink is cut (the Internet's end of its veth down) at t0: the same loop,
//    t1 - t0 < 5 s via south, reason uplink-down; restored, back to north after the hold-down.
// 5. Every gateway down: probes from the client (ping, ping bound to mesh0, UDP) to the
//    Internet and the gateways' uplink peers: none crosses the client's bridge port, nor
//    anything else outside the mesh, during the whole run; only the tunnel's UDP leaves.
// 6. SIGINT: addresses, routes, rules, nftables and resolv.conf as before the start; the
//    host's /etc/resolv.conf unchanged.
//
// The measured times go to the console (a table) and to TIMES_FILE as JSON.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { AgentStatus } from '../../client/agent-status.js';
import { netnsSkip, teardownScenesAfterEach, type Proc } from './harness.js';
import { FNET, FailoverScene, tries, type GatewayName, type Try } from './failover-scene.js';
import { addressesOf, eventually, nftCounters } from './gateway-scene.js';

const skipReason = netnsSkip('client failover tests', { commands: ['ip', 'nft', 'sysctl', 'bash'], ping: true });

const TIMES_FILE = '/tmp/mg-failover-times.json';
const HOST_RESOLV_CONF = '/etc/resolv.conf';
/** The bound: new connections work again within this long after a failure. */
const SWITCH_LIMIT_MS = 5_000;
/** failover.holdDown of the config, in ms. */
const HOLD_DOWN_MS = 8_000;
const KILL_SWITCH = 'meshgate_killswitch';

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
let hostResolvSha = '';
let scene: FailoverScene | null = null;

teardownScenesAfterEach();
afterEach(() => {
  scene?.removeResolvConf();
  scene = null;
});
beforeAll(() => {
  hostResolvSha = sha256(HOST_RESOLV_CONF);
});
afterAll(() => {
  expect(sha256(HOST_RESOLV_CONF)).toBe(hostResolvSha);
});

interface SwitchEvent {
  from: string | null;
  to: string;
  reason: string;
  ipv4: string;
  ipv6: string;
  tookMs: number;
  time: number;
}

function switches(s: FailoverScene): SwitchEvent[] {
  return s.agentEvents('gateway-switch') as unknown as SwitchEvent[];
}

/** The agent's gateway-health lines for one gateway, after a time. */
function health(
  s: FailoverScene,
  gateway: GatewayName,
  after: number,
): { state: string; reason?: string; time: number }[] {
  return s
    .agentEvents('gateway-health')
    .filter((e) => e.gateway === gateway && Number(e.time) >= after)
    .map((e) => ({ state: String(e.state), ...(e.reason ? { reason: String(e.reason) } : {}), time: Number(e.time) }));
}

/** Waits for the n-th gateway-switch line (1-based) and returns it. */
async function nthSwitch(s: FailoverScene, n: number, timeoutMs: number): Promise<SwitchEvent> {
  return eventually(`gateway-switch #${n}`, async () => switches(s)[n - 1], timeoutMs, 100);
}

async function gatewaysStatus(s: FailoverScene): Promise<AgentStatus> {
  const st = await s.status();
  return st.agent as unknown as AgentStatus;
}

/** The first try of a family started at or after t0 that succeeded. */
function firstSuccess(all: readonly Try[], family: 4 | 6, t0: number): Try | undefined {
  return all.filter((t) => t.family === family && t.start >= t0 && t.ok).sort((a, b) => a.start - b.start)[0];
}

/**
 * Runs the new-connection loop around `fail` (which breaks the current gateway and
 * returns t0) until both families have a success started after t0; returns them.
 */
async function measureFailover(
  s: FailoverScene,
  label: string,
  fail: () => Promise<number>,
): Promise<{ t0: number; v4: Try; v6: Try; loop: Proc }> {
  const loop = await s.startWhoamiLoop(label);
  try {
    const t0 = await fail();
    const found = await eventually(
      `${label}: a new connection over IPv4 and IPv6 after the failure`,
      async () => {
        const all = tries(loop);
        const v4 = firstSuccess(all, 4, t0);
        const v6 = firstSuccess(all, 6, t0);
        return v4 && v6 ? { v4, v6 } : undefined;
      },
      20_000,
      100,
    );
    return { t0, ...found, loop };
  } finally {
    await loop.stop();
  }
}

/**
 * Breaks north with `fail`, expects the n-th switch to go to south for `reason`, new
 * connections over both families through south within SWITCH_LIMIT_MS, and north logged
 * down for it; returns the times.
 */
async function expectFailover(
  s: FailoverScene,
  n: number,
  reason: 'unreachable' | 'uplink-down',
  what: string,
  fail: () => Promise<number>,
): Promise<{ times: { v4Ms: number; v6Ms: number; switchMs: number; tookMs: number }; switched: SwitchEvent }> {
  const m = await measureFailover(s, `loop-${reason}`, fail);
  const switched = await nthSwitch(s, n, 5_000);
  expect(switched).toMatchObject({ from: 'north', to: 'south', reason });
  expect(m.v4.remote && s.gatewayByUplink(m.v4.remote)).toBe('south');
  expect(m.v6.remote && s.gatewayByUplink(m.v6.remote)).toBe('south');
  const times = {
    v4Ms: m.v4.end - m.t0,
    v6Ms: m.v6.end - m.t0,
    switchMs: switched.time - m.t0,
    tookMs: switched.tookMs,
  };
  expect(times.v4Ms, `IPv4: a new connection after ${what}`).toBeLessThan(SWITCH_LIMIT_MS);
  expect(times.v6Ms, `IPv6: a new connection after ${what}`).toBeLessThan(SWITCH_LIMIT_MS);
  expect(health(s, 'north', m.t0)).toContainEqual(expect.objectContaining({ state: 'down', reason }));
  return { times, switched };
}

async function expectVia(s: FailoverScene, name: GatewayName, when: string): Promise<void> {
  for (const family of [4, 6] as const) {
    const r = await s.whoami(family);
    expect(r, `whoami over IPv${family} ${when}: ${JSON.stringify(r)}`).toMatchObject({ ok: true, via: name });
  }
}

/** The TUN's addresses: all in this gateway's pools (one IPv4, one IPv6), none in the other's. */
async function expectAddressesOf(s: FailoverScene, name: GatewayName): Promise<string[]> {
  const own = s.gateway(name);
  const other = s.gateway(name === 'north' ? 'south' : 'north');
  const addrs = await addressesOf(s.client, s.clientTun);
  expect(addrs, `TUN addresses ${JSON.stringify(addrs)} from ${name}`).toHaveLength(2);
  expect(addrs.every((a) => own.inPools(a) && !other.inPools(a))).toBe(true);
  return addrs;
}

function expectResolvConf(s: FailoverScene, name: GatewayName): void {
  const text = fs.readFileSync(s.resolvConf!, 'utf8');
  const servers = [...text.matchAll(/^nameserver\s+(\S+)/gm)].map((m) => m[1]);
  expect(servers, `resolv.conf with ${name}'s DNS`).toEqual([...s.gateway(name).plan.dns]);
}

describe.skipIf(skipReason !== null)('meshgate client with two gateways', () => {
  test('fails over within 5 s on a dead gateway and a dead uplink, returns after the hold-down, the kill switch holds, SIGINT restores', async () => {
    const started = Date.now();
    const s = (scene = await FailoverScene.build('cfo'));
    // The client's LAN router is north's box: without the kill switch, anything not in the tunnel leaves on mesh0.
    await s.client.ip('-4', 'route', 'add', 'default', 'via', s.north.plan.mesh4, 'dev', 'mesh0');
    await s.client.ip('-6', 'route', 'add', 'default', 'via', s.north.plan.mesh6, 'dev', 'mesh0');
    await s.installCounters();

    // ---- 0. without the agent the probes leave (the bridge counter sees them) ----
    const sent = await s.probe();
    const open = await s.counters();
    expect(open.probe, 'probes counted without the agent').toBeGreaterThanOrEqual(sent);
    await s.ownResolvConf();
    await eventually(
      'no tentative address in the client',
      async () => ((await s.client.ip('addr')).stdout.includes('tentative') ? undefined : true),
      10_000,
    );
    const before = await s.dump();
    await Promise.all([s.north.start(), s.south.start()]);
    s.writeClientConfig('both');

    // ---- 1. start: north ----
    const t0Start = Date.now();
    await s.startAgent();
    const first = await nthSwitch(s, 1, 10_000);
    expect(first).toMatchObject({ from: null, to: 'north', reason: 'start' });
    await expectVia(s, 'north', 'at the start');
    await expectAddressesOf(s, 'north');
    expectResolvConf(s, 'north');
    // The mesh routes to both gateways stay in main; the tunnel's marked UDP to each leaves on mesh0.
    const rule = /not from all fwmark 0x([0-9a-f]+) lookup (\d+)/.exec((await s.client.ip('-6', 'rule')).stdout);
    expect(rule, 'the fwmark rule').not.toBeNull();
    const mark = String(parseInt(rule![1]!, 16));
    expect((await s.client.ip('-4', 'route', 'show', 'table', 'main', FNET.mesh4)).stdout).toMatch(/dev mesh0/);
    expect((await s.client.ip('-6', 'route', 'show', 'table', 'main', FNET.mesh6)).stdout).toMatch(/dev mesh0/);
    for (const g of [s.north, s.south]) {
      for (const address of [g.plan.mesh4, g.plan.mesh6]) {
        const fam = address.includes(':') ? '-6' : '-4';
        const out = (await s.client.ip(fam, 'route', 'get', address, 'mark', mark)).stdout;
        expect(out, `route to ${g.name}'s ${address}`).toMatch(/dev mesh0/);
      }
    }
    const st1 = await eventually(
      'status: both gateways healthy with a round-trip time',
      async () => {
        const st = await gatewaysStatus(s);
        return st.gateways.length === 2 && st.gateways.every((g) => g.healthy && typeof g.rttMs === 'number')
          ? st
          : undefined;
      },
      10_000,
      500,
    );
    const [n1, s1] = [st1.gateways.find((g) => g.name === 'north')!, st1.gateways.find((g) => g.name === 'south')!];
    expect(n1).toMatchObject({ publicKey: s.north.keys.publicKey, priority: 1, current: true, session: true });
    expect(n1.endpoints).toEqual([
      `[${s.north.plan.mesh6}]:${FNET.listenPort}`,
      `${s.north.plan.mesh4}:${FNET.listenPort}`,
    ]);
    expect(n1.endpoints).toContain(n1.endpoint);
    expect(s1).toMatchObject({
      publicKey: s.south.keys.publicKey,
      priority: 2,
      current: false,
      endpoint: `[${s.south.plan.mesh6}]:${FNET.listenPort}`,
      endpoints: [`[${s.south.plan.mesh6}]:${FNET.listenPort}`],
    });
    expect([n1.uplink, s1.uplink]).toEqual(['up', 'up']);
    expect(s.north.inPools(n1.lease!.ipv4!) && s.north.inPools(n1.lease!.ipv6!)).toBe(true);
    expect(st1.failover).toMatchObject({ switches: 1, last: { from: null, to: 'north', reason: 'start' } });
    const startMs = first.time - t0Start;

    // ---- 2. north's process dies ----
    let killedAt = 0;
    const { times: kill, switched: sw2 } = await expectFailover(s, 2, 'unreachable', 'north died', async () => {
      killedAt = await s.north.kill();
      return killedAt;
    });
    const southAddrs = await expectAddressesOf(s, 'south');
    expect(s.south.inPools(sw2.ipv4) && s.south.inPools(sw2.ipv6)).toBe(true);
    expect(southAddrs.map((a) => a.split('/')[0])).toEqual(
      expect.arrayContaining([sw2.ipv4.split('/')[0], sw2.ipv6.split('/')[0]]),
    );
    expectResolvConf(s, 'south');
    const st2 = await gatewaysStatus(s);
    expect(st2.gateways.find((g) => g.name === 'north')).toMatchObject({ current: false, healthy: false });
    expect(st2.gateways.find((g) => g.name === 'south')).toMatchObject({ current: true, healthy: true });

    // ---- 3. north comes back: the agent returns after the hold-down, not before ----
    const northReady = await s.north.start();
    const sw3 = await nthSwitch(s, 3, HOLD_DOWN_MS + 15_000);
    expect(sw3).toMatchObject({ from: 'south', to: 'north', reason: 'preferred' });
    const up3 = health(s, 'north', killedAt).find((h) => h.state === 'up');
    expect(up3, 'north up again (gateway-health)').toBeDefined();
    const back = { sinceReadyMs: sw3.time - northReady, sinceHealthyMs: sw3.time - up3!.time, tookMs: sw3.tookMs };
    expect(back.sinceHealthyMs, 'not before the hold-down after north answers').toBeGreaterThanOrEqual(HOLD_DOWN_MS);
    expect(back.sinceReadyMs).toBeGreaterThanOrEqual(HOLD_DOWN_MS);
    expect(back.sinceReadyMs, 'back soon after the hold-down').toBeLessThan(HOLD_DOWN_MS + SWITCH_LIMIT_MS);
    await expectVia(s, 'north', 'after the return');
    await expectAddressesOf(s, 'north');
    expectResolvConf(s, 'north');
    expect(switches(s).map((e) => [e.from, e.to, e.reason])).toEqual([
      [null, 'north', 'start'],
      ['north', 'south', 'unreachable'],
      ['south', 'north', 'preferred'],
    ]);

    // ---- 4. north's uplink dies (far side down), then comes back ----
    let cutAt = 0;
    const { times: uplink } = await expectFailover(s, 4, 'uplink-down', 'north lost its uplink', () => {
      cutAt = Date.now();
      return s.setUplink('north', false).then(() => cutAt);
    });
    await expectAddressesOf(s, 'south');
    expectResolvConf(s, 'south');
    const st4 = await gatewaysStatus(s);
    expect(st4.gateways.find((g) => g.name === 'north')).toMatchObject({
      current: false,
      healthy: false,
      uplink: 'down',
    });
    const restored = await s.setUplink('north', true);
    const sw5 = await nthSwitch(s, 5, HOLD_DOWN_MS + 15_000);
    expect(sw5).toMatchObject({ from: 'south', to: 'north', reason: 'preferred' });
    const up5 = health(s, 'north', restored).find((h) => h.state === 'up');
    expect(up5, 'north up again after the restore (gateway-health)').toBeDefined();
    const uplinkBack = {
      sinceRestoreMs: sw5.time - restored,
      sinceHealthyMs: sw5.time - up5!.time,
      tookMs: sw5.tookMs,
    };
    expect(uplinkBack.sinceHealthyMs).toBeGreaterThanOrEqual(HOLD_DOWN_MS);
    expect(uplinkBack.sinceRestoreMs).toBeGreaterThanOrEqual(HOLD_DOWN_MS);
    expect(uplinkBack.sinceRestoreMs).toBeLessThan(HOLD_DOWN_MS + SWITCH_LIMIT_MS);
    await expectVia(s, 'north', 'after the uplink came back');
    expect(switches(s).map((e) => [e.from, e.to, e.reason])).toEqual([
      [null, 'north', 'start'],
      ['north', 'south', 'unreachable'],
      ['south', 'north', 'preferred'],
      ['north', 'south', 'uplink-down'],
      ['south', 'north', 'preferred'],
    ]);
    const st5 = await gatewaysStatus(s);
    expect(st5.failover).toMatchObject({ switches: 5, last: { from: 'south', to: 'north', reason: 'preferred' } });
    expect(Number.isNaN(Date.parse(st5.failover.last!.at))).toBe(false);

    // ---- 5. every gateway down: nothing leaves outside the tunnel ----
    await s.south.kill();
    await s.north.kill();
    const blocked0 = (await nftCounters(s.client, 'inet', KILL_SWITCH, { required: true })).blocked ?? 0;
    const c5 = await s.counters();
    await s.probe();
    await eventually(
      'the tunnel still sends to the endpoints with every gateway down',
      async () => ((await s.counters()).tunnel > c5.tunnel ? true : undefined),
      10_000,
    );
    const after5 = await s.counters();
    expect(after5.probe - c5.probe, 'probes leaving with every gateway down').toBe(0);
    expect(after5.leak - open.leak, 'anything outside the mesh leaving while the agent ran').toBe(0);
    const blocked5 = (await nftCounters(s.client, 'inet', KILL_SWITCH, { required: true })).blocked ?? 0;
    expect(blocked5 - blocked0, 'probes dropped by the kill switch').toBeGreaterThanOrEqual(sent / 3);
    expect(switches(s), 'no switch between dead gateways').toHaveLength(5);

    // ---- 6. SIGINT: the namespace as before ----
    const agent = s.agent!;
    process.kill(agent.pid, 'SIGINT');
    expect((await agent.exited).code).toBe(0);
    expect(await s.dump()).toEqual(before);
    expect(sha256(HOST_RESOLV_CONF)).toBe(hostResolvSha);

    const times = {
      startMs,
      gatewayKilled: kill,
      gatewayBack: back,
      uplinkCut: uplink,
      uplinkBack,
      holdDownMs: HOLD_DOWN_MS,
      limitMs: SWITCH_LIMIT_MS,
      killSwitch: { probesSent: sent, probesLeft: after5.probe - c5.probe, blocked: blocked5 - blocked0 },
      wallMs: Date.now() - started,
    };
    console.table({
      'north killed -> new IPv4 connection (ms)': kill.v4Ms,
      'north killed -> new IPv6 connection (ms)': kill.v6Ms,
      'north killed -> switch logged (ms)': kill.switchMs,
      'switch to south, host change (tookMs)': kill.tookMs,
      'north ready -> back to north (ms)': back.sinceReadyMs,
      'north healthy -> back to north (ms)': back.sinceHealthyMs,
      'uplink cut -> new IPv4 connection (ms)': uplink.v4Ms,
      'uplink cut -> new IPv6 connection (ms)': uplink.v6Ms,
      'uplink cut -> switch logged (ms)': uplink.switchMs,
      'uplink restored -> back to north (ms)': uplinkBack.sinceRestoreMs,
      'wall time (ms)': times.wallMs,
    });
    fs.writeFileSync(TIMES_FILE, JSON.stringify(times, null, 2) + '\n');
  }, 150_000);
});
