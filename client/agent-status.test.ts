// The agent's status object and its text (client/agent-status.ts), built from
// plain values; the agent's own answer is tested in agent.test.ts.
import { describe, expect, test } from 'vitest';
import { RecordingRunner } from '../shared/host/command.js';
import { typicalAgentStatus } from '../test/support/agent-status.js';
import { agentStatus, readBlockedCounter, renderAgentStatus, type AgentStatusInput } from './agent-status.js';

const KEY = 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=';
const NOW_WALL = 1_800_000_000_000;
const SWITCHED_AT = '2027-01-15T08:00:00.000Z';

const INPUT: AgentStatusInput = {
  gateways: [
    {
      name: 'gw1',
      publicKey: KEY,
      endpoint: '192.0.2.1:51820',
      endpoints: ['192.0.2.1:51820'],
      priority: 1,
      current: true,
      session: true,
      lastHandshakeWall: NOW_WALL - 65_000,
      healthy: true,
      uplinkUp: null,
      rttMs: null,
      lease: { ipv4: '100.64.0.10/32', ipv6: 'fd12:3456:789a::10/128' },
    },
  ],
  failover: { switches: 1, last: { from: null, to: 'gw1', reason: 'start', at: SWITCHED_AT } },
  rxBytes: 3 * 1024 * 1024,
  txBytes: 512,
  lease: {
    ipv4: '100.64.0.10/32',
    ipv6: 'fd12:3456:789a::10/128',
    gateway: ['100.64.0.1', 'fd12:3456:789a::1'],
    dns: ['198.51.100.53'],
  },
  leaseExpiresAt: 100_000 + 42_500,
  now: 100_000,
  dns: 'file',
  defaultRoute: true,
  table: 51820,
  lan: 'outside',
  killSwitchTable: 'meshgate_killswitch',
};

/** Before the first lease (or after a refusal), without default route or kill switch. */
const NO_SESSION: AgentStatusInput = {
  ...INPUT,
  gateways: [{ ...INPUT.gateways[0]!, session: false, lastHandshakeWall: 0 }],
  lease: null,
  defaultRoute: false,
  killSwitchTable: null,
};

describe('agentStatus', () => {
  test('one current gateway, the lease with its time left and DNS, routing, kill switch, bytes', () => {
    expect(agentStatus(INPUT)).toEqual(
      typicalAgentStatus({
        publicKey: KEY,
        lastHandshake: NOW_WALL / 1000 - 65,
        lifetimeLeft: 43,
        rxBytes: 3 * 1024 * 1024,
        txBytes: 512,
        switchedAt: SWITCHED_AT,
      }),
    );
  });

  test('before the first lease, without default route, DNS or kill switch', () => {
    const s = agentStatus({ ...NO_SESSION, dns: null, lan: 'tunnel' });
    expect(s.gateways[0]).toMatchObject({ session: false, lastHandshake: 0, current: true });
    expect(s.lease).toBeNull();
    expect(s.routing).toEqual({ defaultRoute: false, table: null, families: [], lan: 'tunnel' });
    expect(s.killSwitch).toEqual({ on: false, table: null, blocked: null });
  });

  test('an IPv4-only lease: the default route covers IPv4 only; an expired lease has 0 s left; resolved', () => {
    const s = agentStatus({
      ...INPUT,
      lease: { ...INPUT.lease!, ipv6: null },
      leaseExpiresAt: INPUT.now - 5_000,
      dns: 'resolved',
    });
    expect(s.routing.families).toEqual([4]);
    expect(s.lease).toMatchObject({ lifetimeLeft: 0, dnsApplied: 'resolved' });
  });
});

describe('renderAgentStatus', () => {
  test('every part in one line each', () => {
    const s = agentStatus(INPUT);
    s.killSwitch.blocked = 7;
    expect(renderAgentStatus(s, NOW_WALL / 1000)).toBe(
      [
        'agent:',
        `  gateway (current): ${KEY} at 192.0.2.1:51820, up, latest handshake 1 minute, 5 seconds ago`,
        '  lease: 100.64.0.10/32, fd12:3456:789a::10/128, 43 s left',
        '  lease gateway: 100.64.0.1, fd12:3456:789a::1',
        '  dns: 198.51.100.53, applied (resolv.conf)',
        '  default route: on, table 51820, IPv4 and IPv6; lan: outside',
        '  kill switch: on (inet meshgate_killswitch), 7 packets blocked',
        '  transfer: 3.00 MiB received, 512 B sent',
      ].join('\n'),
    );
  });

  test('no session, no lease, nothing applied', () => {
    const s = agentStatus({ ...NO_SESSION, rxBytes: 0, txBytes: 0 });
    expect(renderAgentStatus(s, NOW_WALL / 1000)).toBe(
      [
        'agent:',
        `  gateway (current): ${KEY} at 192.0.2.1:51820, no session`,
        '  lease: none yet',
        '  default route: off; lan: outside',
        '  kill switch: off',
        '  transfer: 0 B received, 0 B sent',
      ].join('\n'),
    );
  });

  test('several gateways: each with its name, priority, health, round trip and uplink; the latest switch', () => {
    const north = INPUT.gateways[0]!;
    const s = agentStatus({
      ...INPUT,
      gateways: [
        { ...north, name: 'north', current: false, healthy: false, uplinkUp: false, rttMs: 12.345 },
        {
          ...north,
          name: 'south',
          endpoint: '[2001:db8:1::2]:51820',
          endpoints: ['[2001:db8:1::2]:51820', '192.0.2.2:51820'],
          priority: 2,
          current: true,
          uplinkUp: true,
          rttMs: 3.21,
        },
      ],
      failover: { switches: 2, last: { from: 'north', to: 'south', reason: 'uplink-down', at: SWITCHED_AT } },
    });
    expect(s.gateways.map((g) => [g.name, g.uplink, g.rttMs, g.current])).toEqual([
      ['north', 'down', 12.3, false],
      ['south', 'up', 3.2, true],
    ]);
    const lines = renderAgentStatus(s, NOW_WALL / 1000).split('\n');
    expect(lines.slice(1, 6)).toEqual([
      `  gateway north: ${KEY} at 192.0.2.1:51820, up, latest handshake 1 minute, 5 seconds ago`,
      '    priority 1, down, rtt 12.3 ms, uplink down',
      `  gateway south (current): ${KEY} at [2001:db8:1::2]:51820, up, latest handshake 1 minute, 5 seconds ago`,
      '    priority 2, healthy, rtt 3.2 ms, uplink up',
      `  failover: 2 switches, latest north -> south (uplink-down) at ${SWITCHED_AT}`,
    ]);
  });

  test('a lease without DNS servers, DNS not applied; a kill switch whose counter could not be read', () => {
    const s = agentStatus({ ...INPUT, lease: { ...INPUT.lease!, dns: [] }, dns: null });
    const text = renderAgentStatus(s, NOW_WALL / 1000);
    expect(text).toContain('  dns: (none), not applied');
    expect(text).toContain('  kill switch: on (inet meshgate_killswitch), blocked count unreadable');
  });
});

describe('readBlockedCounter', () => {
  const answering = (out: string | Error) =>
    new RecordingRunner((command) => {
      if (out instanceof Error) throw out;
      return command === 'nft' ? out : '';
    });

  test('the packets of the named counter from nft -j', async () => {
    const runner = answering(
      JSON.stringify({
        nftables: [
          { metainfo: { version: '1.0.6', json_schema_version: 1 } },
          { counter: { family: 'inet', name: 'blocked', table: 'meshgate_killswitch', packets: 12, bytes: 840 } },
        ],
      }),
    );
    expect(await readBlockedCounter(runner, 'meshgate_killswitch')).toBe(12);
    expect(runner.lines()).toEqual(['nft -j list counter inet meshgate_killswitch blocked']);
  });

  test('null when nft fails or answers something else', async () => {
    expect(await readBlockedCounter(answering(new Error('no such table')), 'meshgate_killswitch')).toBeNull();
    expect(await readBlockedCounter(answering('not json'), 'meshgate_killswitch')).toBeNull();
    expect(
      await readBlockedCounter(answering('{"nftables":[{"counter":{"packets":-1}}]}'), 'meshgate_killswitch'),
    ).toBeNull();
  });
});
