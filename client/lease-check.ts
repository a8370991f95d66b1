// What the agent accepts from the gateway before it touches the host
// (docs/lease-protocol.md, "What the agent accepts"). One pure function: a
// LEASE grant in, null or the first problem out. A grant with a problem is
// refused whole; nothing of it is applied.

import { containsAddress, equalBytes, formatIp, type Cidr } from '../shared/net/address.js';
import { isV4Mapped, MESH, NOT_UNICAST, refusedWhy } from '../shared/net/special-ranges.js';
import type { LeaseGrant } from '../shared/lease/message.js';

/** Limits of what the agent accepts (the gateway's own config limits are inside them). */
export const LEASE_LIMITS = {
  /** The gateway sends /32; a shorter prefix would route a whole subnet (the LAN, the mesh) into the tunnel. */
  ipv4PrefixMin: 24,
  ipv4PrefixMax: 32,
  /** The gateway sends /128 or /64 (leasePrefixLength). */
  ipv6PrefixMin: 64,
  ipv6PrefixMax: 128,
  /** IPv6 always runs through the tunnel (RFC 8200 section 5). */
  mtuMin: 1280,
  mtuMax: 9000,
  /** Seconds: below this the agent would renew too often; above it a stale lease would live too long. */
  lifetimeMin: 60,
  lifetimeMax: 604_800,
  dnsMax: 8,
} as const;

/** The closed list of reasons a lease is refused (also the only values its log lines carry). */
export const LeaseCheckCodes = [
  'ipv4-prefix', // prefix length outside ipv4PrefixMin..ipv4PrefixMax
  'ipv4-address', // not a usable unicast address (special range, or its subnet's network/broadcast address)
  'ipv6-prefix', // prefix length outside ipv6PrefixMin..ipv6PrefixMax
  'ipv6-address', // not a usable unicast address (special range)
  'gateway-ipv4', // gateway's IPv4 address not unicast, or equal to ours
  'gateway-ipv6', // gateway's IPv6 address not unicast, or equal to ours
  'dns-count', // more than dnsMax servers
  'dns-address', // a server that is not a unicast address
  'mtu', // outside mtuMin..mtuMax
  'lifetime', // outside lifetimeMin..lifetimeMax seconds
  'endpoint-in-lease', // the lease's prefix holds the gateway's own endpoint: the tunnel would route into itself
] as const;
export type LeaseCheckCode = (typeof LeaseCheckCodes)[number];

export interface LeaseProblem {
  code: LeaseCheckCode;
  /** One line for the log; addresses only, no secrets. */
  detail: string;
}

export interface LeaseCheckContext {
  /** Every gateway's UDP endpoint addresses (4 or 16 bytes; ::ffff:a.b.c.d counts as IPv4), as known. */
  endpoints?: readonly Uint8Array[];
}

/** ::ffff:a.b.c.d → a.b.c.d; anything else unchanged. */
function unmap(address: Uint8Array): Uint8Array {
  return address.length === 16 && isV4Mapped(address) ? address.subarray(12) : address;
}

/** IPv4 host part all zeros or all ones on a subnet of 4 or more addresses. */
function networkOrBroadcast(address: Uint8Array, prefixLength: number): boolean {
  if (prefixLength > 30) return false;
  const value = new DataView(address.buffer, address.byteOffset, 4).getUint32(0);
  const host = 0xffffffff >>> prefixLength;
  return (value & host) === 0 || (value & host) === host;
}

function checkLeased(
  family: 4 | 6,
  lease: { address: Uint8Array; prefixLength: number },
  ctx: LeaseCheckContext,
): LeaseProblem | null {
  const [min, max] =
    family === 4
      ? [LEASE_LIMITS.ipv4PrefixMin, LEASE_LIMITS.ipv4PrefixMax]
      : [LEASE_LIMITS.ipv6PrefixMin, LEASE_LIMITS.ipv6PrefixMax];
  const text = `${formatIp(lease.address)}/${lease.prefixLength}`;
  if (lease.prefixLength < min || lease.prefixLength > max) {
    return { code: family === 4 ? 'ipv4-prefix' : 'ipv6-prefix', detail: `${text}: prefix not /${min} to /${max}` };
  }
  const why =
    refusedWhy(lease.address, NOT_UNICAST) ??
    refusedWhy(lease.address, MESH) ??
    (family === 4 && networkOrBroadcast(lease.address, lease.prefixLength) ? 'network or broadcast address' : null);
  if (why !== null) return { code: family === 4 ? 'ipv4-address' : 'ipv6-address', detail: `${text}: ${why}` };
  const prefix: Cidr = { family, address: lease.address, prefixLength: lease.prefixLength };
  const endpoint = (ctx.endpoints ?? []).map(unmap).find((e) => containsAddress(prefix, e));
  if (endpoint !== undefined) {
    return { code: 'endpoint-in-lease', detail: `${text} holds the gateway endpoint ${formatIp(endpoint)}` };
  }
  return null;
}

function checkGateway(family: 4 | 6, gateway: Uint8Array, own: { address: Uint8Array } | null): LeaseProblem | null {
  const code = family === 4 ? 'gateway-ipv4' : 'gateway-ipv6';
  const why = refusedWhy(gateway, NOT_UNICAST);
  if (why !== null) return { code, detail: `${formatIp(gateway)}: ${why}` };
  if (own !== null && equalBytes(own.address, gateway))
    return { code, detail: `${formatIp(gateway)} is our own address` };
  return null;
}

/** Null when the agent may apply `grant`, else the first problem found (checked in a fixed order). */
export function checkLease(grant: LeaseGrant, ctx: LeaseCheckContext = {}): LeaseProblem | null {
  const problem =
    (grant.ipv4 && checkLeased(4, grant.ipv4, ctx)) ||
    (grant.ipv6 && checkLeased(6, grant.ipv6, ctx)) ||
    (grant.gatewayIpv4 && checkGateway(4, grant.gatewayIpv4, grant.ipv4)) ||
    (grant.gatewayIpv6 && checkGateway(6, grant.gatewayIpv6, grant.ipv6));
  if (problem) return problem;
  if (grant.dns.length > LEASE_LIMITS.dnsMax) {
    return { code: 'dns-count', detail: `${grant.dns.length} servers, at most ${LEASE_LIMITS.dnsMax}` };
  }
  for (const server of grant.dns) {
    const why = refusedWhy(server, NOT_UNICAST);
    if (why !== null) return { code: 'dns-address', detail: `${formatIp(server)}: ${why}` };
  }
  if (grant.mtu !== null && (grant.mtu < LEASE_LIMITS.mtuMin || grant.mtu > LEASE_LIMITS.mtuMax)) {
    return { code: 'mtu', detail: `${grant.mtu}: not ${LEASE_LIMITS.mtuMin} to ${LEASE_LIMITS.mtuMax}` };
  }
  if (grant.lifetime < LEASE_LIMITS.lifetimeMin || grant.lifetime > LEASE_LIMITS.lifetimeMax) {
    return {
      code: 'lifetime',
      detail: `${grant.lifetime} s: not ${LEASE_LIMITS.lifetimeMin} to ${LEASE_LIMITS.lifetimeMax}`,
    };
  }
  return null;
}
