// The agent with two in-memory gateways (test/support/agent-gateway.ts) on one
// fake network, each handing out its own lease and DNS: the first choice, a
// gateway that stops answering (its packets dropped), one whose uplink goes
// down, the return after the hold-down, the status and the RELEASE to both;
// then regressions on one and two gateways (endpoints, lease expiry, start logs).
// The host is a FakeHost; the clock and the timers are fake.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { FakeHost } from '../shared/host/fake-host.js';
import { SRC_VALID_MARK } from '../shared/host/policy-routing.js';
import { parseEndpoint } from '../shared/io/endpoint.js';
import type { Endpoint } from '../shared/io/types.js';
import { FakeNetwork } from '../shared/io/fakes.js';
import { LeaseError, type LeaseGrant } from '../shared/lease/message.js';
import { parseCidr, parseIp } from '../shared/net/address.js';
import { generatePrivateKey } from '../shared/wireguard/crypto.js';
import {
  advanceAgent,
  AGENT_STEP_MS,
  agentConfig,
  capturedLog,
  fakeTimersPerTest,
  inMemoryGateway,
  runTestAgent,
  type InMemoryGateway,
} from '../test/support/agent-gateway.js';
import { packet, tagOf } from '../test/support/ip-packets.js';
import { FakeClock, seededRandom } from '../test/support/two-peers.js';
import type { FailoverConfig } from './config.js';
import { Failover } from './failover.js';

const IFACE = 'mgc-fo';
const TABLE = 51820;
const FAILOVER: FailoverConfig = { probeIntervalMs: 1000, deadAfterMs: 3000, holdDownMs: 5000 };

/** A lease of host `host` in the pools `v4.0/16` and `v6::/48`, with the gateway at .1 and ::1. */
const leaseIn = (v4: string, v6: string, host: number, dns: string): LeaseGrant => ({
  ipv4: { address: parseIp(`${v4}.${host}`), prefixLength: 32 },
  ipv6: { address: parseIp(`${v6}::${host}`), prefixLength: 128 },
  gatewayIpv4: parseIp(`${v4}.1`),
  gatewayIpv6: parseIp(`${v6}::1`),
  dns: [parseIp(dns)],
  mtu: 1420,
  lifetime: 60,
});
/** The two gateways' leases: their own pools and resolvers. */
const LEASES = [
  leaseIn('100.64.0', 'fd64:6464:1', 10, '198.51.100.53'),
  leaseIn('100.65.0', 'fd65:6565:2', 20, '203.0.113.53'),
];
/** The addresses of each lease as the host gets them. */
const ADDRESSES = [
  [`100.64.0.10/32 dev ${IFACE}`, `fd64:6464:1::10/128 dev ${IFACE}`],
  [`100.65.0.20/32 dev ${IFACE}`, `fd65:6565:2::20/128 dev ${IFACE}`],
];
const ENDPOINTS = ['192.0.2.1:51820', '192.0.2.3:51820'];
const NAMES = ['gw1', 'gw2'];
/** The default routes in the agent's table: they name the device, so a switch leaves them. */
const DEFAULT_ROUTES = [`0.0.0.0/0 dev ${IFACE} table ${TABLE}`, `::/0 dev ${IFACE} table ${TABLE}`];
/** An endpoint nobody listens at. */
const NOBODY = parseEndpoint('192.0.2.99:51820');

/** `unreachableFirst`: gw1's endpoints are an address nobody listens at, then its own. */
async function scene(unreachableFirst = false) {
  const clock = new FakeClock();
  const network = new FakeNetwork({ autoDeliver: true });
  const rnd = seededRandom('agent-failover');
  const agentKey = generatePrivateKey(rnd);
  const gatewayKeys = [generatePrivateKey(rnd), generatePrivateKey(rnd)];
  const gateways: InMemoryGateway[] = LEASES.map((grant, i) =>
    inMemoryGateway({
      network,
      clock,
      at: ENDPOINTS[i]!,
      privateKey: gatewayKeys[i]!,
      agentKey,
      agentAllowedIps: [parseCidr(`${grant.ipv4!.address.join('.')}/32`)],
      grant,
      seed: NAMES[i],
    }),
  );
  // A gateway "stopped": every datagram to or from it is lost.
  const stopped = new Set<string>();
  network.filter = (d) => (stopped.has(d.to.key) || stopped.has(d.from.key) ? 'drop' : 'deliver');

  const dir = mkdtempSync(join(tmpdir(), 'mg-agent-failover-'));
  const resolvConf = join(dir, 'resolv.conf');
  writeFileSync(resolvConf, 'nameserver 192.0.2.53\n');
  const host = new FakeHost({ links: [IFACE], sysctls: { [SRC_VALID_MARK]: '0' } });
  const config = agentConfig(IFACE, agentKey, gateways, {
    failover: FAILOVER,
    defaultRoute: true,
    dns: true,
  });
  if (unreachableFirst) config.gateways[0]!.endpoints = [NOBODY.key, gateways[0]!.endpoint.key];
  const { log, events } = capturedLog();
  const { agent, tun, status } = await runTestAgent({
    network,
    clock,
    config,
    gateways,
    runner: host,
    log,
    parts: {
      table: TABLE,
      stateFile: join(dir, 'state'),
      resolvConf,
      endpoints: gateways.map((g, i) => (i === 0 && unreachableFirst ? [NOBODY, g.endpoint] : [g.endpoint])),
    },
  });

  /** Steps the agent until `done` holds (at most `limit` ms); the time it took. */
  const until = async (done: () => boolean, limit: number) => {
    const from = clock.mono;
    while (!done()) {
      if (clock.mono - from >= limit) throw new Error(`not within ${limit} ms`);
      await advanceAgent(clock, AGENT_STEP_MS);
    }
    return clock.mono - from;
  };
  /** A UDP packet from the agent's current IPv4 address to an Internet address, into the agent's TUN. */
  const send = (tag: number) => {
    const lease = agent.lease()!;
    tun.inject(packet({ src: lease.ipv4!.address.join('.'), dst: '198.51.100.1', dport: 80, tag }));
  };
  /** The tags of what each gateway's TUN got. */
  const arrived = () => gateways.map((g) => g.tun.written.map(tagOf));
  return {
    agent,
    gateways,
    host,
    events,
    clock,
    until,
    status,
    send,
    arrived,
    advance: (ms: number) => advanceAgent(clock, ms),
    stop: (i: number) => stopped.add(gateways[i]!.endpoint.key),
    resume: (i: number) => stopped.delete(gateways[i]!.endpoint.key),
    dns: () => readFileSync(resolvConf, 'utf8'),
    close: async () => {
      await agent.close();
      for (const g of gateways) g.runner.stop();
      rmSync(dir, { recursive: true });
    },
  };
}

type Scene = Awaited<ReturnType<typeof scene>>;

/** Started and routed through gw1 (the first choice waits for both: one switch). */
async function started(): Promise<Scene> {
  const s = await scene();
  await s.until(() => s.agent.gateway() !== null && s.events('gateway-switch').length === 1, 5_000);
  return s;
}

/** The allowed IPs of the agent's two peers (gw1, gw2), from the status. */
const allowed = (s: Scene) => s.status().peers.map((p) => p.allowedIps);

/** A packet from the TUN to the Internet comes out of gateway `i` only. */
function expectPacketThrough(s: Scene, i: number, tag: number) {
  s.send(tag);
  expect(s.arrived().map((tags) => tags.includes(tag))).toEqual([i === 0, i === 1]);
}

/** Once the host change is done (a step later): the last switch logged, and at which level. */
async function expectLastSwitch(s: Scene, line: Record<string, unknown>) {
  await s.advance(AGENT_STEP_MS);
  expect(s.events('gateway-switch').at(-1)).toMatchObject(line);
}

/** Routed through gateway `i` in every respect: addresses, DNS, allowed IPs. */
function expectRoutedThrough(s: Scene, i: number) {
  expect(s.agent.gateway()).toBe(NAMES[i]);
  expect(s.host.snapshot().addresses).toEqual(ADDRESSES[i]);
  expect(s.dns()).toContain(`nameserver ${i === 0 ? '198.51.100.53' : '203.0.113.53'}\n`);
  expect(s.dns()).not.toContain(i === 0 ? '203.0.113.53' : '198.51.100.53');
  const everything = ['0.0.0.0/0', '::/0'];
  expect(allowed(s)).toEqual(i === 0 ? [everything, []] : [[], everything]);
}

/** Back on gw1 (preferred) in every respect; the agent closed. */
async function expectBackOnGw1(s: Scene) {
  await expectLastSwitch(s, { from: 'gw2', to: 'gw1', reason: 'preferred' });
  expectRoutedThrough(s, 0);
  await s.close();
}

fakeTimersPerTest();

describe('the agent with two gateways', () => {
  test('start: a lease from both, routed through priority 1 (its addresses, its DNS, its peer alone with 0.0.0.0/0 and ::/0)', async () => {
    const s = await started();
    expect(s.gateways.map((g) => g.server.counters.granted)).toEqual([1, 1]);
    expectRoutedThrough(s, 0);
    expect(s.events('gateway-switch')).toEqual([
      expect.objectContaining({ from: null, to: 'gw1', reason: 'start', ipv4: '100.64.0.10/32' }),
    ]);
    expect(s.host.snapshot().routes).toEqual(DEFAULT_ROUTES);
    expectPacketThrough(s, 0, 1);
    await s.close();
  });

  test('gw1 stops answering: down (unreachable) and switched to gw2 within deadAfter + 1 s; addresses, DNS, allowed IPs and packets follow', async () => {
    const s = await started();
    await s.advance(5_000);
    s.stop(0);
    const took = await s.until(() => s.agent.gateway() === 'gw2', FAILOVER.deadAfterMs + 1_000);
    expect(took).toBeGreaterThan(FAILOVER.deadAfterMs - FAILOVER.probeIntervalMs);
    expect(s.events('gateway-health')).toContainEqual(
      expect.objectContaining({ gateway: 'gw1', state: 'down', reason: 'unreachable', level: 40 }),
    );
    await expectLastSwitch(s, {
      from: 'gw1',
      to: 'gw2',
      reason: 'unreachable',
      ipv4: '100.65.0.20/32',
      ipv6: 'fd65:6565:2::20/128',
      level: 40,
    });
    expectRoutedThrough(s, 1);
    expect(s.host.lines()).toEqual(
      expect.arrayContaining([
        `ip -4 address del 100.64.0.10/32 dev ${IFACE}`,
        `ip -6 address del fd64:6464:1::10/128 dev ${IFACE}`,
      ]),
    );
    // The default route and its rules name the device, not an address: still there.
    expect(s.host.snapshot().routes).toEqual(DEFAULT_ROUTES);
    expectPacketThrough(s, 1, 2);
    await s.close();
  });

  test('gw1 back: no switch back before holdDown of health, then back (preferred)', async () => {
    const s = await started();
    s.stop(0);
    await s.until(() => s.agent.gateway() === 'gw2', FAILOVER.deadAfterMs + 1_000);
    await s.advance(5_000);
    s.resume(0);
    // Healthy again once it answers a PROBE.
    const up = () => s.events('gateway-health').filter((l) => l.gateway === 'gw1' && l.state === 'up').length === 2;
    await s.until(up, 2 * FAILOVER.probeIntervalMs);
    const healthyAt = s.clock.mono;
    await s.advance(FAILOVER.holdDownMs - 2 * AGENT_STEP_MS);
    expect(s.agent.gateway()).toBe('gw2');
    const took = await s.until(() => s.agent.gateway() === 'gw1', 4 * AGENT_STEP_MS);
    expect(s.clock.mono - healthyAt).toBeGreaterThanOrEqual(FAILOVER.holdDownMs);
    expect(took).toBeGreaterThan(0);
    await expectLastSwitch(s, { from: 'gw2', to: 'gw1', reason: 'preferred', level: 30 });
    expectRoutedThrough(s, 0);
    expectPacketThrough(s, 0, 3);
    await s.close();
  });

  test('gw1 away past the end of its session (300 s): back (preferred) within a handshake retry and holdDown', async () => {
    const s = await started();
    s.stop(0);
    await s.advance(300_000);
    expect(s.agent.gateway()).toBe('gw2');
    expect(s.status().agent.gateways[0]).toMatchObject({ session: false, healthy: false });
    s.resume(0);
    const back = await s.until(() => s.agent.gateway() === 'gw1', FAILOVER.holdDownMs + 10_000);
    expect(back).toBeGreaterThanOrEqual(FAILOVER.holdDownMs);
    await expectBackOnGw1(s);
  });

  test("gw1's uplink down: switched with reason uplink-down within a probe interval; up again: back after holdDown", async () => {
    const s = await started();
    await s.advance(3_000);
    s.gateways[0]!.uplink.up = false;
    await s.until(() => s.agent.gateway() === 'gw2', FAILOVER.probeIntervalMs + AGENT_STEP_MS);
    expect(s.events('gateway-health').at(-1)).toMatchObject({ gateway: 'gw1', state: 'down', reason: 'uplink-down' });
    await expectLastSwitch(s, { from: 'gw1', to: 'gw2', reason: 'uplink-down' });
    expectRoutedThrough(s, 1);
    expect(s.status().agent.gateways[0]).toMatchObject({ name: 'gw1', healthy: false, uplink: 'down', current: false });

    s.gateways[0]!.uplink.up = true;
    const back = await s.until(() => s.agent.gateway() === 'gw1', FAILOVER.holdDownMs + FAILOVER.probeIntervalMs + 500);
    expect(back).toBeGreaterThanOrEqual(FAILOVER.holdDownMs);
    await expectBackOnGw1(s);
  });

  test('gw1 silent at its first endpoint: tried at the next after deadAfter, then taken at once (never healthy before)', async () => {
    const s = await scene(true);
    await s.until(() => s.agent.gateway() !== null, 2_000);
    expect(s.agent.gateway()).toBe('gw2'); // the start grace over, gw1 still silent
    const took = await s.until(() => s.agent.gateway() === 'gw1', FAILOVER.deadAfterMs + 2_000);
    expect(s.events('gateway-endpoint')).toEqual([expect.objectContaining({ gateway: 'gw1', endpoint: ENDPOINTS[0] })]);
    expect(s.status().agent.gateways[0]).toMatchObject({
      endpoint: ENDPOINTS[0],
      endpoints: [NOBODY.key, ENDPOINTS[0]],
    });
    expect(took).toBeLessThan(FAILOVER.deadAfterMs + 2_000);
    await expectBackOnGw1(s);
  });

  test('status: both gateways with health, uplink, round trip and which is current; the switches and the last one', async () => {
    const s = await started();
    await s.advance(2_000);
    const { agent } = s.status();
    expect(agent.gateways).toEqual(
      [0, 1].map((i) =>
        expect.objectContaining({
          name: NAMES[i],
          endpoint: ENDPOINTS[i],
          priority: i + 1,
          current: i === 0,
          healthy: true,
          uplink: 'up',
          rttMs: expect.any(Number) as number,
          lease: { ipv4: ADDRESSES[i]![0]!.split(' ')[0], ipv6: ADDRESSES[i]![1]!.split(' ')[0] },
        }),
      ),
    );
    expect(agent.failover).toEqual({
      switches: 1,
      last: { from: null, to: 'gw1', reason: 'start', at: expect.any(String) as string },
    });
    expect(agent.lease).toMatchObject({ ipv4: '100.64.0.10/32', dns: ['198.51.100.53'] });

    s.gateways[0]!.uplink.up = false;
    await s.until(() => s.agent.gateway() === 'gw2', 2 * FAILOVER.probeIntervalMs);
    await s.advance(AGENT_STEP_MS);
    const after = s.status().agent;
    expect(after.gateways.map((g) => [g.name, g.current, g.healthy, g.uplink])).toEqual([
      ['gw1', false, false, 'down'],
      ['gw2', true, true, 'up'],
    ]);
    expect(after.failover).toMatchObject({ switches: 2, last: { from: 'gw1', to: 'gw2', reason: 'uplink-down' } });
    expect(after.lease).toMatchObject({ ipv4: '100.65.0.20/32', dns: ['203.0.113.53'] });
    await s.close();
  });

  test('close(): a RELEASE to both gateways', async () => {
    const s = await started();
    expect(s.gateways.map((g) => g.server.counters.released)).toEqual([0, 0]);
    await s.close();
    expect(s.gateways.map((g) => g.server.counters.released)).toEqual([1, 1]);
  });
});

// ---- Regressions found by review (each failed on afa5966): one gateway with several
// endpoints moves past a dead first one; a gateway whose lease ran out (renewals
// refused) is left for another; a start logs no gateway as down.

const FR_IFACE = 'mgc-fr';
/** An IPv4-only lease of a minute. */
const lease = (v4: string): LeaseGrant => ({
  ipv4: { address: parseIp(v4), prefixLength: 32 },
  ipv6: null,
  gatewayIpv4: null,
  gatewayIpv6: null,
  dns: [],
  mtu: 1420,
  lifetime: 60,
});

/** `resolve`: names (*.example) did not resolve at start; this answers when they are asked again. */
async function agentWith(
  n: number,
  endpointsOf: (i: number, live: string) => string[],
  resolve?: (text: string) => Promise<Endpoint>,
) {
  const clock = new FakeClock();
  const network = new FakeNetwork({ autoDeliver: true });
  const rnd = seededRandom('failover-regressions');
  const agentKey = generatePrivateKey(rnd);
  const gateways = Array.from({ length: n }, (_, i) =>
    inMemoryGateway({
      network,
      clock,
      at: `192.0.2.${i + 1}:51820`,
      privateKey: generatePrivateKey(rnd),
      agentKey,
      agentAllowedIps: [parseCidr(`100.64.0.${10 + i}/32`)],
      grant: lease(`100.64.0.${10 + i}`),
      seed: `gw${i}`,
    }),
  );
  const config = agentConfig(FR_IFACE, agentKey, gateways, {
    failover: { probeIntervalMs: 1000, deadAfterMs: 3000, holdDownMs: 5000 },
  });
  config.gateways.forEach((g, i) => (g.endpoints = endpointsOf(i, gateways[i]!.endpoint.key)));
  const { log, events } = capturedLog();
  const a = await runTestAgent({
    network,
    clock,
    config,
    gateways,
    runner: new FakeHost({ links: [FR_IFACE], sysctls: { [SRC_VALID_MARK]: '0' } }),
    log,
    parts: {
      endpoints: config.gateways.map((g) => g.endpoints.map((e) => (e.includes('.example') ? null : parseEndpoint(e)))),
      ...(resolve ? { resolve } : {}),
    },
  });
  return { ...a, gateways, events, network, clock, config, advance: (ms: number) => advanceAgent(clock, ms) };
}

describe('one gateway with several endpoints moves past a dead first one', () => {
  test('pure: Failover with one gateway of two endpoints rotates while it is silent', () => {
    const f = new Failover(
      [{ priority: 1, endpoints: 2 }],
      { probeIntervalMs: 1000, deadAfterMs: 3000, holdDownMs: 5000 },
      0,
    );
    const rotated: number[] = [];
    for (let t = 0; t <= 60_000; t += 250) if (f.evaluate(t).rotate.length > 0) rotated.push(t);
    expect(rotated.slice(0, 3)).toEqual([3000, 6000, 9000]); // every deadAfter while silent
    f.heard(0, 9500); // an answer at its endpoint: it stays there
    for (let t = 9750; t < 12_500; t += 250) expect(f.evaluate(t).rotate).toEqual([]);
  });

  test('agent: gateway: endpoints [dead, live]: a lease within 10 s', async () => {
    const s = await agentWith(1, (_, live) => ['192.0.2.99:51820', live]);
    await s.advance(10_000);
    expect(s.agent.lease()).not.toBeNull();
    await s.agent.close();
  });

  test('contrast: with two gateways the same endpoints list does rotate and gets the lease', async () => {
    const s = await agentWith(2, (i, live) => (i === 0 ? ['192.0.2.99:51820', live] : [live]));
    await s.advance(10_000);
    expect(s.gateways[0]!.server.counters.granted).toBeGreaterThan(0);
    expect(s.events('gateway-endpoint').length).toBeGreaterThan(0);
    await s.agent.close();
  });
});

describe('a gateway that stops renewing the lease (REFUSED) but answers PROBEs is left once the lease ran out', () => {
  test('gw1 refuses renewals from t=3 s: once its 60 s lease ran out the agent leaves it (no-lease) for gw2', async () => {
    const s = await agentWith(2, (_, live) => [live]);
    await s.advance(3_000);
    expect(s.agent.gateway()).toBe('gw1');
    s.gateways[0]!.answer.current = { refused: LeaseError.ClientDisabled };
    await s.advance(70_000); // renewal at 30 s refused, every 2 s after; the lease ran out at 60 s
    expect(s.events('lease-refused').length).toBeGreaterThan(0);
    expect(s.agent.gateway()).toBe('gw2');
    expect(s.events('gateway-switch').at(-1)).toMatchObject({ from: 'gw1', to: 'gw2', reason: 'no-lease' });
    await s.agent.close();
  });
});

describe('a start logs no gateway as down', () => {
  test('two healthy gateways: no gateway-health down line in the first 3 s', async () => {
    const s = await agentWith(2, (_, live) => [live]);
    await s.advance(3_000);
    // On afa5966: gw1 down unreachable (40), gw2 down unreachable (40), then both up: the lease comes
    // before the first HEALTH, and no-lease -> unreachable counts as a change of health.
    expect(s.events('gateway-health').filter((l) => l.state === 'down')).toEqual([]);
    await s.agent.close();
  });
});

describe('endpoint names that did not resolve at start', () => {
  test('a gateway starts at its first endpoint that resolved (no deadAfter lost on the name)', async () => {
    const s = await agentWith(1, (_, live) => ['gw1.example:51820', live]);
    await s.advance(1_000);
    expect(s.agent.lease()).not.toBeNull();
    expect(s.status().agent.gateways[0]).toMatchObject({
      endpoints: ['gw1.example:51820', s.gateways[0]!.endpoint.key],
    });
    await s.agent.close();
  });

  test('a backup named by DNS: the agent runs on the other; the name asked again on each retry, then used', async () => {
    let answer: Endpoint | null = null;
    const asked: string[] = [];
    const resolve = (text: string) => {
      asked.push(text);
      return answer === null ? Promise.reject(new Error('SERVFAIL')) : Promise.resolve(answer);
    };
    // gw1 (priority 1) only by name; gw2 by address.
    const s = await agentWith(2, (i, live) => (i === 0 ? ['gw1.example:51820'] : [live]), resolve);
    await s.advance(3_000);
    expect(s.agent.gateway()).toBe('gw2');
    expect(s.status().agent.gateways[0]).toMatchObject({ endpoint: 'gw1.example:51820', healthy: false });
    await s.advance(3_500);
    expect(asked.length).toBeGreaterThanOrEqual(1); // retried with the gateway, every deadAfter
    answer = s.gateways[0]!.endpoint;
    await s.advance(3_500);
    expect(s.events('endpoint-resolved')).toEqual([
      expect.objectContaining({ gateway: 'gw1', endpoint: 'gw1.example:51820', address: answer.key }),
    ]);
    // Never healthy before: taken at once when it answers (no hold-down).
    await s.advance(2_000);
    expect(s.agent.gateway()).toBe('gw1');
    expect(s.events('gateway-switch').at(-1)).toMatchObject({ from: 'gw2', to: 'gw1', reason: 'preferred' });
    await s.agent.close();
  });
});
