// The status of a running tunnel as the control socket reports it, and its
// rendering in the style of `wg show`. Never contains a private or preshared key.

import { formatCidr } from '../net/address.js';
import type { Device } from '../wireguard/device.js';
import type { DropCounts } from '../wireguard/errors.js';
import { formatKey } from '../wireguard/keys.js';
import { renderQuota, type QuotaStatus } from './quota-status.js';

export interface PeerStatus {
  publicKey: string;
  endpoint: string | null;
  allowedIps: string[];
  /** Unix seconds of the latest handshake, 0 if none. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  /** Seconds, 0 when off. */
  persistentKeepalive: number;
  /** Drops of this peer's packets (also in the tunnel's drops). */
  drops: DropCounts;
}

export interface TunnelStatus {
  interface: string;
  publicKey: string;
  listenPort: number;
  peers: PeerStatus[];
  drops: DropCounts;
  /** Packets whose handling threw (logged and counted by the runner; 0 in a healthy tunnel). */
  packetErrors: number;
  /** A client agent's quota state as the gateway last told it (null: not told; absent: not an agent). */
  quota?: QuotaStatus | null;
}

export function tunnelStatus(name: string, device: Device, listenPort: number, packetErrors = 0): TunnelStatus {
  const peers: PeerStatus[] = [];
  for (const p of device.peers()) {
    peers.push({
      publicKey: p.keyText,
      endpoint: p.endpoint?.key ?? null,
      allowedIps: p.allowedIps.map(formatCidr),
      latestHandshake: Math.floor(p.lastHandshakeWall / 1000),
      rxBytes: p.rxBytes,
      txBytes: p.txBytes,
      persistentKeepalive: p.timers.persistentKeepalive / 1000,
      drops: { ...p.drops },
    });
  }
  return {
    interface: name,
    publicKey: formatKey(device.identity.publicKey),
    listenPort,
    peers,
    drops: { ...device.drops },
    packetErrors,
  };
}

/** Bytes in binary units: 1.50 KiB. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(2)} ${units[i]}`;
}

/** Seconds as `1 minute, 5 seconds ago` (`Now` for 0). */
export function ago(seconds: number): string {
  if (seconds <= 0) return 'Now';
  const parts: string[] = [];
  const put = (n: number, unit: string) => n > 0 && parts.push(`${n} ${unit}${n === 1 ? '' : 's'}`);
  put(Math.floor(seconds / 86400), 'day');
  put(Math.floor((seconds % 86400) / 3600), 'hour');
  put(Math.floor((seconds % 3600) / 60), 'minute');
  put(seconds % 60, 'second');
  return `${parts.join(', ')} ago`;
}

/** The non-zero counts as `reason=n ...`, or ''. */
function dropText(drops: DropCounts): string {
  return Object.entries(drops)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}=${n}`)
    .join(' ');
}

/** Text like `wg show NAME`. */
export function renderStatus(s: TunnelStatus, nowUnixSeconds: number): string {
  const lines = [
    `interface: ${s.interface}`,
    `  public key: ${s.publicKey}`,
    `  private key: (hidden)`,
    `  listening port: ${s.listenPort}`,
  ];
  if (s.quota) lines.push(`  quota: ${renderQuota(s.quota)}`);
  const sorted = [...s.peers].sort((a, b) => b.latestHandshake - a.latestHandshake);
  for (const p of sorted) {
    lines.push('', `peer: ${p.publicKey}`);
    if (p.endpoint !== null) lines.push(`  endpoint: ${p.endpoint}`);
    lines.push(`  allowed ips: ${p.allowedIps.length > 0 ? p.allowedIps.join(', ') : '(none)'}`);
    if (p.latestHandshake > 0) lines.push(`  latest handshake: ${ago(nowUnixSeconds - p.latestHandshake)}`);
    if (p.rxBytes > 0 || p.txBytes > 0)
      lines.push(`  transfer: ${bytes(p.rxBytes)} received, ${bytes(p.txBytes)} sent`);
    if (p.persistentKeepalive > 0) lines.push(`  persistent keepalive: every ${p.persistentKeepalive} seconds`);
    if (dropText(p.drops) !== '') lines.push(`  drops: ${dropText(p.drops)}`);
  }
  if (dropText(s.drops) !== '') lines.push('', `drops: ${dropText(s.drops)}`);
  if (s.packetErrors > 0) lines.push(`packet errors: ${s.packetErrors} (see the daemon's log)`);
  return lines.join('\n');
}

export { formatKey };
