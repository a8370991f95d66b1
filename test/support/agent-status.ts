// The status the typical client agent of the unit tests reports
// (client/agent-status.test.ts from plain values, client/agent.test.ts from a
// running agent): one current gateway gw1 at 192.0.2.1:51820 with a session, the
// lease 100.64.0.10/32 + fd12:3456:789a::10/128 with DNS written to
// resolv.conf, the default route in table 51820 for both families, lan:
// outside, the kill switch on. The tests give what they measure.

import type { AgentStatus } from '../../client/agent-status.js';

export function typicalAgentStatus(v: {
  publicKey: string;
  lastHandshake: number;
  lifetimeLeft: number;
  rxBytes: number;
  txBytes: number;
  /** When the agent chose its gateway (ISO). */
  switchedAt: string;
  /** As the probes found (default null: not answered). */
  uplink?: 'up' | 'down' | null;
  rttMs?: number | null;
}): AgentStatus {
  return {
    gateways: [
      {
        name: 'gw1',
        publicKey: v.publicKey,
        endpoint: '192.0.2.1:51820',
        endpoints: ['192.0.2.1:51820'],
        priority: 1,
        current: true,
        session: true,
        lastHandshake: v.lastHandshake,
        healthy: true,
        uplink: v.uplink ?? null,
        rttMs: v.rttMs ?? null,
        lease: { ipv4: '100.64.0.10/32', ipv6: 'fd12:3456:789a::10/128' },
      },
    ],
    failover: { switches: 1, last: { from: null, to: 'gw1', reason: 'start', at: v.switchedAt } },
    lease: {
      ipv4: '100.64.0.10/32',
      ipv6: 'fd12:3456:789a::10/128',
      gateway: ['100.64.0.1', 'fd12:3456:789a::1'],
      lifetimeLeft: v.lifetimeLeft,
      dns: ['198.51.100.53'],
      dnsApplied: 'resolv.conf',
    },
    routing: { defaultRoute: true, table: 51820, families: [4, 6], lan: 'outside' },
    killSwitch: { on: true, table: 'meshgate_killswitch', blocked: null },
    rxBytes: v.rxBytes,
    txBytes: v.txBytes,
  };
}
