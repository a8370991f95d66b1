// The client agent's own part of its status (the control socket's `agent`
// field, shown by `meshgate show` and `meshgate client status`): every
// configured gateway with its health (client/failover.ts), the failover
// switches, the lease, the routing, the kill switch and the bytes. Built from plain values, so it is tested without
// an agent; never holds a key but public ones.
//
// The kill switch's blocked counter lives in nftables: the agent reports the
// table, the command line reads the counter (readBlockedCounter) as it shows.

import type { CommandRunner } from '../shared/host/command.js';
import { ago, bytes } from '../shared/control/status.js';
import type { LanMode } from './config.js';
import { BLOCKED_COUNTER } from './kill-switch.js';

export interface GatewayStatus {
  name: string;
  publicKey: string;
  /** The endpoint in use, host:port as resolved at start. */
  endpoint: string;
  /** Every configured endpoint, in order. */
  endpoints: string[];
  priority: number;
  /** The gateway the tunnel uses now. */
  current: boolean;
  /** A session is current (a handshake within Reject-After-Time). */
  session: boolean;
  /** Unix seconds of the latest handshake, 0 if none. */
  lastHandshake: number;
  /** Holds a lease and (with several gateways) answers probes with its uplink up. */
  healthy: boolean;
  /** What the gateway last said of its uplink; null: not asked (one gateway) or no answer yet. */
  uplink: 'up' | 'down' | null;
  /** Smoothed round trip of the probes, ms (one decimal); null: none measured. */
  rttMs: number | null;
  /** The lease held from this gateway (applied only for the current one). */
  lease: { ipv4: string | null; ipv6: string | null } | null;
}

export interface FailoverStatus {
  /** Gateway changes since start, the first choice included. */
  switches: number;
  last: { from: string | null; to: string; reason: string; at: string } | null;
}

export interface AgentLeaseStatus {
  ipv4: string | null;
  ipv6: string | null;
  gateway: string[];
  /** Seconds until the lease runs out (0: ran out, being requested again). */
  lifetimeLeft: number;
  dns: string[];
  /** Where the DNS servers were applied; null: not applied (dns: false, or none in the lease). */
  dnsApplied: 'resolv.conf' | 'resolved' | null;
}

export interface AgentStatus {
  gateways: GatewayStatus[];
  failover: FailoverStatus;
  lease: AgentLeaseStatus | null;
  routing: {
    defaultRoute: boolean;
    /** The policy-routing table of the default route; null without one. */
    table: number | null;
    /** The families the default route covers now (those the lease has). */
    families: (4 | 6)[];
    lan: LanMode;
  };
  killSwitch: {
    on: boolean;
    /** The nftables table (inet) while on. */
    table: string | null;
    /** Packets it dropped (read from nft by the command line); null: off or unreadable. */
    blocked: number | null;
  };
  rxBytes: number;
  txBytes: number;
}

/** What agentStatus is built from (agent.ts gathers it). */
export interface AgentStatusInput {
  gateways: (Omit<GatewayStatus, 'lastHandshake' | 'uplink' | 'rttMs'> & {
    lastHandshakeWall: number;
    uplinkUp: boolean | null;
    rttMs: number | null;
  })[];
  failover: FailoverStatus;
  rxBytes: number;
  txBytes: number;
  lease: { ipv4: string | null; ipv6: string | null; gateway: string[]; dns: string[] } | null;
  /** Monotonic ms when the lease runs out (with a lease). */
  leaseExpiresAt: number;
  now: number;
  dns: 'file' | 'resolved' | null;
  defaultRoute: boolean;
  table: number;
  lan: LanMode;
  killSwitchTable: string | null;
}

export function agentStatus(i: AgentStatusInput): AgentStatus {
  const l = i.lease;
  const families = l === null || !i.defaultRoute ? [] : ([4, 6] as const).filter((f) => (f === 4 ? l.ipv4 : l.ipv6));
  return {
    gateways: i.gateways.map(({ lastHandshakeWall, uplinkUp, rttMs, ...g }) => ({
      ...g,
      endpoints: [...g.endpoints],
      lastHandshake: Math.floor(lastHandshakeWall / 1000),
      uplink: uplinkUp === null ? null : uplinkUp ? 'up' : 'down',
      rttMs: rttMs === null ? null : Math.round(rttMs * 10) / 10,
    })),
    failover: { switches: i.failover.switches, last: i.failover.last === null ? null : { ...i.failover.last } },
    lease:
      l === null
        ? null
        : {
            ipv4: l.ipv4,
            ipv6: l.ipv6,
            gateway: [...l.gateway],
            lifetimeLeft: Math.max(0, Math.ceil((i.leaseExpiresAt - i.now) / 1000)),
            dns: [...l.dns],
            dnsApplied: i.dns === null ? null : i.dns === 'file' ? 'resolv.conf' : 'resolved',
          },
    routing: { defaultRoute: i.defaultRoute, table: i.defaultRoute ? i.table : null, families, lan: i.lan },
    killSwitch: { on: i.killSwitchTable !== null, table: i.killSwitchTable, blocked: null },
    rxBytes: i.rxBytes,
    txBytes: i.txBytes,
  };
}

/** The kill switch's blocked-packet count from `nft -j list counter`; null when it cannot be read. */
export async function readBlockedCounter(runner: CommandRunner, table: string): Promise<number | null> {
  try {
    const out = await runner.run('nft', ['-j', 'list', 'counter', 'inet', table, BLOCKED_COUNTER]);
    const items = (JSON.parse(out) as { nftables?: { counter?: { packets?: unknown } }[] }).nftables ?? [];
    const packets = items.find((x) => x.counter !== undefined)?.counter?.packets;
    return typeof packets === 'number' && Number.isSafeInteger(packets) && packets >= 0 ? packets : null;
  } catch {
    return null;
  }
}

function familyText(families: readonly (4 | 6)[]): string {
  return families.length === 0 ? 'no family yet' : families.map((f) => `IPv${f}`).join(' and ');
}

/** The agent's lines under `meshgate show`'s interface block. */
export function renderAgentStatus(s: AgentStatus, nowUnixSeconds: number): string {
  const lines = ['agent:'];
  const several = s.gateways.length > 1;
  for (const g of s.gateways) {
    const state = g.session ? 'up' : 'no session';
    const seen = g.lastHandshake > 0 ? `, latest handshake ${ago(nowUnixSeconds - g.lastHandshake)}` : '';
    const name = several ? ` ${g.name}` : '';
    lines.push(`  gateway${name}${g.current ? ' (current)' : ''}: ${g.publicKey} at ${g.endpoint}, ${state}${seen}`);
    if (several) {
      const health = g.healthy ? 'healthy' : 'down';
      const rtt = g.rttMs === null ? 'no round trip yet' : `rtt ${g.rttMs} ms`;
      const uplink = g.uplink === null ? '' : `, uplink ${g.uplink}`;
      lines.push(`    priority ${g.priority}, ${health}, ${rtt}${uplink}`);
    }
  }
  const last = s.failover.last;
  if (several && last !== null)
    lines.push(
      `  failover: ${s.failover.switches} switch${s.failover.switches === 1 ? '' : 'es'}, latest ${last.from ?? '(none)'} -> ${last.to} (${last.reason}) at ${last.at}`,
    );
  const l = s.lease;
  if (l === null) lines.push('  lease: none yet');
  else {
    const addresses = [l.ipv4, l.ipv6].filter((a): a is string => a !== null).join(', ');
    lines.push(`  lease: ${addresses || '(no address)'}, ${l.lifetimeLeft} s left`);
    if (l.gateway.length > 0) lines.push(`  lease gateway: ${l.gateway.join(', ')}`);
    const dns = l.dns.length === 0 ? '(none)' : l.dns.join(', ');
    lines.push(`  dns: ${dns}, ${l.dnsApplied === null ? 'not applied' : `applied (${l.dnsApplied})`}`);
  }
  const r = s.routing;
  lines.push(
    r.defaultRoute
      ? `  default route: on, table ${r.table}, ${familyText(r.families)}; lan: ${r.lan}`
      : `  default route: off; lan: ${r.lan}`,
  );
  const k = s.killSwitch;
  lines.push(
    k.on
      ? `  kill switch: on (inet ${k.table}), ${k.blocked === null ? 'blocked count unreadable' : `${k.blocked} packets blocked`}`
      : '  kill switch: off',
  );
  lines.push(`  transfer: ${bytes(s.rxBytes)} received, ${bytes(s.txBytes)} sent`);
  return lines.join('\n');
}
