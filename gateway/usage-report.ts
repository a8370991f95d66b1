// What `meshgate gateway usage` and `meshgate show` print about each client's
// usage: one UsageEntry per configured client, built from a live ClientUsage
// (the daemon answers control op 'usage' with a UsageReport) or, when the
// daemon is not running, from the state db's rows and the configured policies.
//
//   daemon:  ClientUsage + shaper drops → usageEntry → UsageReport → control socket
//   offline: store.usage(key)[0] + config policy → ClientUsage → usageEntry (drops 0)
//   text:    renderUsage(entries): NAME STATE DOWNLOAD UPLOAD USED/QUOTA PERIOD-END

import { formatKey } from '../shared/wireguard/keys.js';
import type { GatewayConfig } from './config.js';
import { ClientTable } from './admin/client-table.js';
import type { Store } from './store.js';
import { UNLIMITED, type TrafficPolicy } from './traffic/policy.js';
import { formatRate, formatSize } from './traffic/units.js';
import { ClientUsage, type QuotaState } from './traffic/usage.js';

/** What one direction carried in the period. */
export interface TransferCount {
  bytes: number;
  packets: number;
}

export interface UsageEntry {
  name: string;
  publicKey: string;
  /** The policy's name ('unlimited' included). */
  policy: string;
  state: QuotaState;
  /** The current period, ISO 8601 UTC. */
  periodStart: string;
  periodEnd: string;
  download: TransferCount;
  upload: TransferCount;
  /** Bytes counted toward the quota (0 without one). */
  used: number;
  /** Bytes per period, or null: no quota. */
  quota: number | null;
  /** Bits per second in force now per direction: the throttle while throttled, 0 while blocked, null: none. */
  limits: { down: number | null; up: number | null };
  drops: ShaperDrops;
}

export interface UsageReport {
  /** When the figures were taken, ISO 8601 UTC. */
  at: string;
  clients: UsageEntry[];
}

/** Packets the shaper dropped: while blocked (quota), for queue delay or overflow (queue). */
export interface ShaperDrops {
  quota: number;
  queue: number;
}

const NO_DROPS: ShaperDrops = Object.freeze({ quota: 0, queue: 0 });

/** The rates in force for a client with `policy` in `state`. */
export function limitsInForce(policy: TrafficPolicy, state: QuotaState): UsageEntry['limits'] {
  if (state === 'blocked') return { down: 0, up: 0 };
  if (state === 'throttled' && policy.quota?.throttle) {
    const rate = policy.quota.throttle.bitsPerSecond;
    return { down: rate, up: rate };
  }
  return { down: policy.down?.bitsPerSecond ?? null, up: policy.up?.bitsPerSecond ?? null };
}

/** One client's entry from its live (or resumed) usage. */
export function usageEntry(name: string, usage: ClientUsage, drops: ShaperDrops = NO_DROPS): UsageEntry {
  const policy = usage.policy;
  return {
    name,
    publicKey: usage.publicKey,
    policy: policy.name,
    state: usage.state,
    periodStart: new Date(usage.periodStart).toISOString(),
    periodEnd: new Date(usage.periodEnd).toISOString(),
    download: { bytes: usage.downBytes, packets: usage.downPackets },
    upload: { bytes: usage.upBytes, packets: usage.upPackets },
    used: usage.used,
    quota: policy.quota?.bytes ?? null,
    limits: limitsInForce(policy, usage.state),
    drops: { quota: drops.quota, queue: drops.queue },
  };
}

/**
 * The report as the state db has it at `wallMs`: each configured client's row
 * of its current period (zero when there is none, e.g. after a rollover the
 * daemon did not see), its state computed from those counters and the
 * configured policy. Drops are not stored: 0.
 */
export function storedUsageReport(config: GatewayConfig, store: Store, wallMs: number): UsageReport {
  const entry = (name: string, publicKey: string, policy: TrafficPolicy) =>
    usageEntry(name, new ClientUsage(publicKey, policy, config.accountingZone, wallMs, store.usage(publicKey)[0]));
  const fromFile = config.clients.map((c) => entry(c.name, formatKey(c.publicKey), c.policy));
  // Clients made through the admin API live in the state db (their weight override does not change usage).
  const policies = new Map(config.policies.map((p) => [p.name, p]));
  const fromApi = new ClientTable(store)
    .all()
    .map((row) => entry(row.name, row.publicKey, policies.get(row.policy) ?? UNLIMITED));
  const clients = [...fromFile, ...fromApi].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { at: new Date(wallMs).toISOString(), clients };
}

/** The usage table; '' for no entries. Lines end with '\n'. */
export function renderUsage(entries: UsageEntry[]): string {
  if (entries.length === 0) return '';
  const table = [
    ['NAME', 'STATE', 'DOWNLOAD', 'UPLOAD', 'USED/QUOTA', 'PERIOD-END'],
    ...entries.map((e) => [
      e.name,
      stateText(e),
      formatSize(e.download.bytes),
      formatSize(e.upload.bytes),
      e.quota === null ? 'unlimited' : `${formatSize(e.used)}/${formatSize(e.quota)}`,
      periodEndText(e.periodEnd),
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table
    .map(
      (row) =>
        row
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd() + '\n',
    )
    .join('');
}

function stateText(e: UsageEntry): string {
  if (e.state !== 'throttled' || e.limits.down === null) return e.state;
  return `throttled (${formatRate(e.limits.down)})`;
}

/** "2027-01-01T00:00:00.000Z" → "2027-01-01 00:00 UTC". */
function periodEndText(iso: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return m === null ? iso : `${m[1]} ${m[2]} UTC`;
}
