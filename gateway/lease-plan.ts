// Lease planning for the configured clients, shared by the daemon
// (gateway.ts) and the admin commands (cli.ts: export-client, leases):
//
//   config + state db -> poolsOf (the IPv6 pool configured, or the ULA /48
//   generated once and kept in the db) -> leasesFor (planLeases, sticky per
//   key, saved) -> grantOf (what the lease server answers a client)
//
// The arithmetic is leases.ts's; this module only ties it to the
// configuration and the store.

import { systemRandom } from '../shared/io/random.js';
import type { LeaseGrant } from '../shared/lease/message.js';
import type { Cidr } from '../shared/net/address.js';
import { formatKey } from '../shared/wireguard/keys.js';
import type { RandomBytes } from '../shared/wireguard/crypto.js';
import type { GatewayConfig } from './config.js';
import { gatewayAddresses, generateUlaPrefix, planLeases, type Lease, type LeasePlan, type Pools } from './leases.js';
import type { Store } from './store.js';

/** The state db's meta key of the generated ULA pool. */
const ULA_META_KEY = 'ula-prefix';

/** The IPv6 pool: configured, or the ULA /48 kept in the state db (generated once, from `random`). */
export function ipv6PoolOf(config: GatewayConfig, store: Store, random: RandomBytes = systemRandom): Cidr {
  if (config.ipv6.pool !== null) return config.ipv6.pool;
  const kept = store.getMeta(ULA_META_KEY);
  if (kept !== undefined) {
    const [addr, len] = kept.split('/');
    return { family: 6, address: Uint8Array.from(Buffer.from(addr!, 'hex')), prefixLength: Number(len) };
  }
  const ula = generateUlaPrefix(random);
  store.setMeta(ULA_META_KEY, `${Buffer.from(ula.address).toString('hex')}/${ula.prefixLength}`);
  return ula;
}

/** Both pools and the IPv6 lease size. */
export function poolsOf(config: GatewayConfig, store: Store, random: RandomBytes = systemRandom): Pools {
  return {
    ipv4: config.ipv4Pool,
    ipv6: ipv6PoolOf(config, store, random),
    ipv6LeasePrefixLength: config.ipv6.leasePrefixLength,
  };
}

/** Plans and stores the leases of every configured client; the same answer every time for the same key. */
export function leasesFor(config: GatewayConfig, store: Store, pools: Pools, now: number): LeasePlan {
  const wants = config.clients.map((c) => ({
    publicKey: formatKey(c.publicKey),
    ...(c.ipv4 ? { fixedIpv4: c.ipv4 } : {}),
    ...(c.ipv6 ? { fixedIpv6: c.ipv6 } : {}),
  }));
  const plan = planLeases(store.leases(), wants, pools, now);
  store.saveLeases(plan.leases);
  return plan;
}

/** The LEASE answer for a client's lease: its addresses, the gateway's, DNS, MTU, lifetime. */
export function grantOf(lease: Lease, pools: Pools, config: GatewayConfig): LeaseGrant {
  const gw = gatewayAddresses(pools);
  return {
    ipv4: { address: lease.ipv4, prefixLength: 32 },
    ipv6: { address: lease.ipv6, prefixLength: lease.ipv6PrefixLength },
    gatewayIpv4: gw.ipv4,
    gatewayIpv6: gw.ipv6,
    dns: config.dns,
    mtu: config.mtu,
    lifetime: config.leaseLifetime,
  };
}
