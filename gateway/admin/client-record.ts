// One client as the registry (registry.ts) holds it: who it is, its settings,
// lease, usage and place on the data plane; and the pure functions that turn
// it into what the admin API shows and the state db stores.

import { equalBytes, formatCidr, formatIp, type Cidr } from '../../shared/net/address.js';
import type { Peer } from '../../shared/wireguard/peer.js';
import type { Lease } from '../leases.js';
import type { ShapedClient } from '../traffic/traffic.js';
import type { ClientUsage, UsageCounters, UsageRow } from '../traffic/usage.js';
import { usageEntry, type UsageEntry } from '../usage-report.js';
import { FieldError } from '../../shared/config/config-error.js';
import { formatKey } from '../../shared/wireguard/keys.js';
import type { GatewayClient, GatewayConfig } from '../config.js';
import { renderClientConfig } from '../export.js';
import { AdminError, type ClientOrigin, type ClientView } from './backend.js';
import type { ApiClientRow } from './client-table.js';

/** What a client is apart from its live state. */
export type ClientSettings = Omit<ClientRecord, 'usage' | 'lease' | 'peer' | 'shaped' | 'past' | 'samples'>;

/** Live rates are averaged over this many one-second samples. */
export const RATE_SAMPLES = 5;

export interface ClientRecord {
  name: string;
  key: string;
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  origin: ClientOrigin;
  enabled: boolean;
  policyName: string;
  /** The API's override of the policy's weight, or null. */
  weight: number | null;
  notes: string;
  createdAt: number | null;
  fixedIpv4?: Uint8Array;
  fixedIpv6?: Uint8Array;
  lease: Lease | null;
  usage: ClientUsage;
  peer: Peer | null;
  shaped: ShapedClient | null;
  /** All-time totals of the stored periods before the current one, and which period they precede. */
  past: { before: number; totals: UsageCounters };
  /** (wall ms, all-time down bytes, up bytes), oldest first. */
  samples: [number, number, number][];
}

export function viewOf(c: ClientRecord): ClientView {
  const peer = c.peer;
  return {
    name: c.name,
    publicKey: c.key,
    origin: c.origin,
    enabled: c.enabled,
    policy: c.policyName,
    weight: c.usage.policy.weight,
    notes: c.notes,
    lease:
      c.lease === null
        ? null
        : {
            ipv4: formatIp(c.lease.ipv4),
            ipv6: formatCidr({ family: 6, address: c.lease.ipv6, prefixLength: c.lease.ipv6PrefixLength }),
          },
    endpoint: peer?.endpoint?.key ?? null,
    lastHandshake:
      peer === null || peer.lastHandshakeWall === 0 ? null : new Date(peer.lastHandshakeWall).toISOString(),
    transfer: { rxBytes: peer?.rxBytes ?? 0, txBytes: peer?.txBytes ?? 0 },
    rates: rates(c.samples),
    usage: entryOf(c),
    createdAt: c.createdAt === null ? null : new Date(c.createdAt).toISOString(),
  };
}

/** Its usage entry, with the shaper's drops. */
export function entryOf(c: ClientRecord): UsageEntry {
  const s = c.shaped;
  return usageEntry(c.name, c.usage, {
    quota: s?.quotaDrops ?? 0,
    queue: s === null ? 0 : s.down.drops + s.up.drops,
  });
}

/** A peer's allowed IPs: its lease's addresses, or none without a lease. */
export function allowedIpsOf(lease: Lease | null): Cidr[] {
  return lease === null
    ? []
    : [
        { family: 4, address: lease.ipv4, prefixLength: 32 },
        { family: 6, address: lease.ipv6, prefixLength: lease.ipv6PrefixLength },
      ];
}

export function sameLease(a: Lease | null, b: Lease | null): boolean {
  if (a === null || b === null) return a === b;
  return equalBytes(a.ipv4, b.ipv4) && equalBytes(a.ipv6, b.ipv6) && a.ipv6PrefixLength === b.ipv6PrefixLength;
}

/** An API client as its table row. */
export function rowOf(c: ClientRecord): ApiClientRow {
  return {
    name: c.name,
    publicKey: c.key,
    presharedKey: c.presharedKey,
    policy: c.policyName,
    weight: c.weight,
    enabled: c.enabled,
    notes: c.notes,
    createdAt: c.createdAt ?? 0,
  };
}

export function byName(a: ClientRecord, b: ClientRecord): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The sums of the stored periods that start before `before`. */
export function pastTotals(rows: UsageRow[], before: number): ClientRecord['past'] {
  const totals = { downBytes: 0, upBytes: 0, downPackets: 0, upPackets: 0 };
  for (const r of rows) {
    if (r.periodStart >= before) continue;
    totals.downBytes += r.downBytes;
    totals.upBytes += r.upBytes;
    totals.downPackets += r.downPackets;
    totals.upPackets += r.upPackets;
  }
  return { before, totals };
}

/** Bits per second over the samples kept. */
export function rates(samples: [number, number, number][]): { downBps: number; upBps: number } {
  if (samples.length < 2) return { downBps: 0, upBps: 0 };
  const [t0, d0, u0] = samples[0]!;
  const [t1, d1, u1] = samples[samples.length - 1]!;
  const seconds = (t1 - t0) / 1000;
  if (seconds <= 0) return { downBps: 0, upBps: 0 };
  return { downBps: Math.round(((d1 - d0) * 8) / seconds), upBps: Math.round(((u1 - u0) * 8) / seconds) };
}

/** A client of the configuration file; `overrides`: the API's enable switches by key. */
export function fileClientSettings(c: GatewayClient, overrides: Map<string, boolean>): ClientSettings {
  const key = formatKey(c.publicKey);
  return {
    name: c.name,
    key,
    publicKey: c.publicKey,
    presharedKey: c.presharedKey,
    origin: 'file',
    enabled: overrides.get(key) ?? true,
    policyName: c.policy.name,
    weight: null,
    notes: '',
    createdAt: null,
    ...(c.ipv4 ? { fixedIpv4: c.ipv4 } : {}),
    ...(c.ipv6 ? { fixedIpv6: c.ipv6 } : {}),
  };
}

/** A client made through the API, from its row; `policyName` the one in force. */
export function apiClientSettings(row: ApiClientRow, policyName: string): ClientSettings {
  return {
    name: row.name,
    key: row.publicKey,
    publicKey: Uint8Array.from(Buffer.from(row.publicKey, 'base64')),
    presharedKey: row.presharedKey,
    origin: 'api',
    enabled: row.enabled,
    policyName,
    weight: row.weight,
    notes: row.notes,
    createdAt: row.createdAt,
  };
}

/**
 * A file client that names an API client (same name or key) is a
 * configuration error, reported at load before any host change.
 */
export function refuseFileConflicts(config: GatewayConfig, rows: ApiClientRow[]): void {
  const fileIndex = new Map(config.clients.map((c, i) => [c.name, i]));
  const fileKeys = new Map(config.clients.map((c, i) => [formatKey(c.publicKey), i]));
  for (const row of rows) {
    const byName = fileIndex.get(row.name);
    if (byName !== undefined) {
      throw new FieldError(
        `clients[${byName}].name`,
        'duplicate',
        'is a client made through the admin API too; remove one of them',
      ).inFile(config.file);
    }
    const byKey = fileKeys.get(row.publicKey);
    if (byKey !== undefined) {
      throw new FieldError(
        `clients[${byKey}].publicKey`,
        'duplicate',
        `is the key of "${row.name}", a client made through the admin API; remove one of them`,
      ).inFile(config.file);
    }
  }
}

/** Every stored period before the current one (`rows`, read only when the period changed) plus the current counters. */
export function allTimeOf(c: ClientRecord, rows: () => UsageRow[]): UsageCounters {
  if (c.past.before !== c.usage.periodStart) c.past = pastTotals(rows(), c.usage.periodStart);
  const p = c.past.totals;
  const u = c.usage;
  return {
    downBytes: p.downBytes + u.downBytes,
    upBytes: p.upBytes + u.upBytes,
    downPackets: p.downPackets + u.downPackets,
    upPackets: p.upPackets + u.upPackets,
  };
}

/** The client's wg-quick config; with `privateKey` null its PrivateKey line is left for the user. */
export function configOf(c: ClientRecord, config: GatewayConfig, privateKey: Uint8Array | null): string {
  if (c.lease === null) throw new AdminError('pool-exhausted', `client ${c.name} has no lease`);
  if (config.endpoint === null) {
    throw new AdminError('invalid', 'the gateway has no endpoint configured, so no client config can be written');
  }
  return renderClientConfig({
    clientPrivateKey: privateKey,
    lease: c.lease,
    gatewayPublicKey: config.publicKey,
    ...(c.presharedKey ? { presharedKey: c.presharedKey } : {}),
    endpoint: config.endpoint,
    dns: config.dns,
    mtu: config.mtu,
  });
}
