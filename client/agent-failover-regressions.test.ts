// Failover regressions found by review (each failed on afa5966): one gateway with
// several endpoints moves on when the first is dead; a gateway whose lease ran out
// (renewals refused) is left for another; a start logs no gateway as down.
import { describe, expect, test } from 'vitest';
import { FakeHost } from '../shared/host/fake-host.js';
import { SRC_VALID_MARK } from '../shared/host/policy-routing.js';
import { parseEndpoint } from '../shared/io/endpoint.js';
import { FakeNetwork } from '../shared/io/fakes.js';
import { LeaseError } from '../shared/lease/message.js';
import { parseCidr, parseIp } from '../shared/net/address.js';
import { generatePrivateKey } from '../shared/wireguard/crypto.js';
import {
  advanceAgent,
  agentConfig,
  capturedLog,
  fakeTimersPerTest,
  inMemoryGateway,
  runTestAgent,
} from '../test/support/agent-gateway.js';
import { FakeClock, seededRandom } from '../test/support/two-peers.js';
import { Failover } from './failover.js';

fakeTimersPerTest();
const IFACE = 'mgc-fr';
const lease = (v4: string) => ({
  ipv4: { address: parseIp(v4), prefixLength: 32 },
  ipv6: null,
  gatewayIpv4: null,
  gatewayIpv6: null,
  dns: [],
  mtu: 1420,
  lifetime: 60,
});

async function agentWith(n: number, endpointsOf: (i: number, live: string) => string[]) {
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
  const config = agentConfig(IFACE, agentKey, gateways, {
    failover: { probeIntervalMs: 1000, deadAfterMs: 3000, holdDownMs: 5000 },
  });
  config.gateways.forEach((g, i) => (g.endpoints = endpointsOf(i, gateways[i]!.endpoint.key)));
  const { log, events } = capturedLog();
  const a = await runTestAgent({
    network,
    clock,
    config,
    gateways,
    runner: new FakeHost({ links: [IFACE], sysctls: { [SRC_VALID_MARK]: '0' } }),
    log,
    parts: { endpoints: config.gateways.map((g) => g.endpoints.map((e) => parseEndpoint(e))) },
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
