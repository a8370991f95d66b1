// Tunnel configuration in wg-quick terms: the one TunnelConfig that drives both
// wireguard-go (`wg setconf`) and meshgate (a wg-quick file), and what
// `wg show NAME dump` / `meshgate show NAME --json` report back.

import type { PeerStatus, TunnelStatus } from '../../../shared/control/status.js';

export interface PeerConfig {
  publicKey: string;
  presharedKey?: string | undefined;
  allowedIps: readonly string[];
  /** "192.0.2.1:51820" or "[2001:db8::1]:51820" */
  endpoint?: string | undefined;
  persistentKeepalive?: number | undefined;
}

/** One tunnel in wg-quick terms (the same config drives wireguard-go and meshgate). */
export interface TunnelConfig {
  /** Device name; default scene.ifname(). Must be unique across namespaces (control sockets). */
  name?: string | undefined;
  privateKey: string;
  listenPort?: number | undefined;
  /** CIDR addresses of the device. */
  addresses: readonly string[];
  /** default 1420 */
  mtu?: number | undefined;
  peers: readonly PeerConfig[];
}

/** What `wg show NAME dump` / `meshgate show NAME --json` say about one peer (the fields both report). */
export type PeerInfo = Omit<PeerStatus, 'drops'>;

/** What both report about a tunnel; meshgate adds its drop counts per reason. */
export interface TunnelInfo extends Omit<TunnelStatus, 'peers' | 'drops' | 'packetErrors'> {
  peers: PeerInfo[];
  /** meshgate only: counts per drop reason */
  drops?: Record<string, number>;
}

export const DEFAULT_MTU = 1420;

/** The `wg setconf` file for a config (no Address/MTU: those are wg-quick's). */
export function renderWgSetconf(c: TunnelConfig): string {
  const lines = ['[Interface]', `PrivateKey = ${c.privateKey}`];
  if (c.listenPort !== undefined) lines.push(`ListenPort = ${c.listenPort}`);
  for (const p of c.peers) lines.push('', ...peerLines(p));
  return lines.join('\n') + '\n';
}

/** A wg-quick file for a config. */
export function renderWgQuick(c: TunnelConfig): string {
  const lines = ['[Interface]', `PrivateKey = ${c.privateKey}`];
  if (c.listenPort !== undefined) lines.push(`ListenPort = ${c.listenPort}`);
  if (c.addresses.length > 0) lines.push(`Address = ${c.addresses.join(', ')}`);
  lines.push(`MTU = ${c.mtu ?? DEFAULT_MTU}`);
  for (const p of c.peers) lines.push('', ...peerLines(p));
  return lines.join('\n') + '\n';
}

function peerLines(p: PeerConfig): string[] {
  const lines = ['[Peer]', `PublicKey = ${p.publicKey}`];
  if (p.presharedKey) lines.push(`PresharedKey = ${p.presharedKey}`);
  if (p.allowedIps.length > 0) lines.push(`AllowedIPs = ${p.allowedIps.join(', ')}`);
  if (p.endpoint) lines.push(`Endpoint = ${p.endpoint}`);
  if (p.persistentKeepalive) lines.push(`PersistentKeepalive = ${p.persistentKeepalive}`);
  return lines;
}

/** Parses `wg show NAME dump`. */
export function parseWgDump(text: string, name: string): TunnelInfo {
  const [head, ...rest] = text.trim().split('\n');
  const h = (head ?? '').split('\t');
  const num = (s: string | undefined) => (s === undefined || s === 'off' ? 0 : Number(s));
  return {
    interface: name,
    publicKey: h[1] ?? '',
    listenPort: num(h[2]),
    peers: rest
      .filter((l) => l.trim())
      .map((line) => {
        const f = line.split('\t');
        return {
          publicKey: f[0] ?? '',
          endpoint: !f[2] || f[2] === '(none)' ? null : f[2],
          allowedIps: !f[3] || f[3] === '(none)' ? [] : f[3].split(','),
          latestHandshake: num(f[4]),
          rxBytes: num(f[5]),
          txBytes: num(f[6]),
          persistentKeepalive: num(f[7]),
        };
      }),
  };
}
