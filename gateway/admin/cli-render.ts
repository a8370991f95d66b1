// What the admin commands print for people (`--json` prints the API's JSON
// instead): the client table of `meshgate clients list`, one client for
// `clients show`, the gateway for `meshgate status`. Nothing here ever holds a
// private key; public keys are shown as `wg` shows them.
//
//   clients list:  NAME ORIGIN ENABLED POLICY IPV4 IPV6 DOWN UP USED/QUOTA STATE HANDSHAKE

import { renderTable } from '../../shared/cli/table.js';
import { formatRate, formatSize } from '../traffic/units.js';
import type { UsageEntry } from '../usage-report.js';
import type { ClientView, GatewayView, PoolUse } from './backend.js';

const CLIENT_COLUMNS = [
  'NAME',
  'ORIGIN',
  'ENABLED',
  'POLICY',
  'IPV4',
  'IPV6',
  'DOWN',
  'UP',
  'USED/QUOTA',
  'STATE',
  'HANDSHAKE',
] as const;
const NONE = '-';

const yesNo = (value: boolean): string => (value ? 'yes' : 'no');

/** "12s ago", "5m ago", "3h ago", "2d ago"; "never" for null. */
export function handshakeAge(iso: string | null, nowMs: number): string {
  if (iso === null) return 'never';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return NONE;
  const seconds = Math.max(0, Math.floor((nowMs - at) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

function usedOfQuota(u: UsageEntry): string {
  return u.quota === null ? 'unlimited' : `${formatSize(u.used)}/${formatSize(u.quota)}`;
}

function stateOf(u: UsageEntry): string {
  return u.state === 'throttled' && u.limits.down !== null ? `throttled (${formatRate(u.limits.down)})` : u.state;
}

/** The client table; a line saying so when there are none. */
export function renderClients(clients: readonly ClientView[], nowMs: number): string {
  if (clients.length === 0) return 'no clients\n';
  return renderTable(
    CLIENT_COLUMNS,
    clients.map((c) => [
      c.name,
      c.origin,
      yesNo(c.enabled),
      c.policy,
      c.lease?.ipv4 ?? NONE,
      c.lease?.ipv6 ?? NONE,
      formatSize(c.usage.download.bytes),
      formatSize(c.usage.upload.bytes),
      usedOfQuota(c.usage),
      stateOf(c.usage),
      handshakeAge(c.lastHandshake, nowMs),
    ]),
  );
}

/** One client, field by field (as `wg show` lays out a peer). */
export function renderClient(c: ClientView, nowMs: number): string {
  const u = c.usage;
  const lines = [
    `client: ${c.name}`,
    `  origin: ${c.origin === 'file' ? 'file (the configuration file owns it)' : 'api'}`,
    `  enabled: ${yesNo(c.enabled)}`,
    `  public key: ${c.publicKey}`,
    `  policy: ${c.policy} (weight ${c.weight})`,
    `  addresses: ${c.lease === null ? '(none: the pool is exhausted)' : `${c.lease.ipv4}, ${c.lease.ipv6}`}`,
    `  endpoint: ${c.endpoint ?? NONE}`,
    `  latest handshake: ${handshakeAge(c.lastHandshake, nowMs)}`,
    `  transfer: ${formatSize(c.transfer.rxBytes)} received, ${formatSize(c.transfer.txBytes)} sent`,
    `  rates: ${formatRate(c.rates.downBps)} down, ${formatRate(c.rates.upBps)} up`,
    `  usage: ${stateOf(u)}, ${usedOfQuota(u)}; ${formatSize(u.download.bytes)} down, ${formatSize(u.upload.bytes)} up`,
    `  period: ${u.periodStart} to ${u.periodEnd}`,
  ];
  if (u.drops.quota > 0 || u.drops.queue > 0) lines.push(`  drops: quota=${u.drops.quota} queue=${u.drops.queue}`);
  if (c.notes !== '') lines.push(`  notes: ${c.notes}`);
  if (c.createdAt !== null) lines.push(`  created: ${c.createdAt}`);
  return lines.join('\n') + '\n';
}

function poolText(p: PoolUse): string {
  return `${p.prefix}: ${p.used} of ${p.size} leases used`;
}

/** The gateway's status for `meshgate status`. */
export function renderGateway(g: GatewayView): string {
  return (
    [
      `gateway: ${g.interface}`,
      `  public key: ${g.publicKey}`,
      `  listening port: ${g.listenPort}`,
      `  uplink: ${g.uplink.name} (${g.uplink.up ? 'up' : 'DOWN'})`,
      `  version: ${g.version}`,
      `  started: ${g.startedAt}`,
      `  sessions: ${g.sessions}`,
      `  handshakes: ${g.handshakes.completed} completed, ${g.handshakes.failed} failed`,
      `  ipv4 pool: ${poolText(g.pools.ipv4)}`,
      `  ipv6 pool: ${poolText(g.pools.ipv6)}`,
      `  clients: ${g.clients.total} (${g.clients.enabled} enabled)`,
    ].join('\n') + '\n'
  );
}
