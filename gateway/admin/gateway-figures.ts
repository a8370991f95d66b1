// Gateway-wide figures for the status and /metrics, read from the device and
// the pools: sessions, failed handshakes, pool use.

import { formatCidr } from '../../shared/net/address.js';
import type { Device } from '../../shared/wireguard/device.js';
import type { Pools } from '../leases.js';
import type { PoolUse } from './backend.js';

/** Device drops that count as failed handshakes in the status and metrics. */
export const HANDSHAKE_FAILURES = ['handshake-invalid', 'unknown-peer', 'replayed-initiation'] as const;

/** Peers with a current session. */
export function sessions(device: Device): number {
  let n = 0;
  for (const peer of device.peers()) if (peer.current !== null) n++;
  return n;
}

/** Handshake messages refused as invalid, from an unknown key, or replayed. */
export function failedHandshakes(device: Device): number {
  let n = 0;
  for (const reason of HANDSHAKE_FAILURES) n += device.drops[reason];
  return n;
}

/** How many leases each pool holds (`used`, reservations included) and can hold. */
export function poolUse(pools: Pools, used: number): { ipv4: PoolUse; ipv6: PoolUse } {
  const v4 = 2 ** (32 - pools.ipv4.prefixLength) - 3; // network, gateway, broadcast
  const v6bits = pools.ipv6LeasePrefixLength - pools.ipv6.prefixLength;
  // /128 leases: not pool::0 (anycast) nor pool::1 (the gateway's); /64 leases: not the first /64 (the gateway's).
  const v6reserved = pools.ipv6LeasePrefixLength === 128 ? 2 : 1;
  const v6 = Math.min(Number.MAX_SAFE_INTEGER, 2 ** v6bits - v6reserved);
  return {
    ipv4: { prefix: formatCidr(pools.ipv4), used, size: v4 },
    ipv6: { prefix: formatCidr(pools.ipv6), used, size: v6 },
  };
}
