// Special-purpose address ranges (the IANA IPv4 and IPv6 Special-Purpose
// Address Registries, RFC 6890), each with its source, and the destinations a
// gateway's clients may not reach behind the uplink unless allow-listed.
//
//   SPECIAL_RANGES        the one list: prefix, what it is, the RFC, blocked or not
//   PRIVATE_IPV4/IPV6     the blocked destinations, sorted and disjoint (nft interval sets need that),
//                         IPv6 including the private IPv4 ranges as the NAT64 well-known prefix and
//                         6to4 embed them
//   isPrivateDestination  whether an address lies in one of them
//
// The documentation ranges stay reachable on purpose: tests and examples use
// them as "the Internet" (they are never routed on the real one).
// Pure data: no I/O.

import { containsAddress, formatCidr, parseCidr, type Cidr } from './address.js';

export { containsAddress };

export interface SpecialRange {
  readonly prefix: Cidr;
  /** What the range is for. */
  readonly what: string;
  /** Where it is defined: "RFC 1918", "RFC 4291 section 2.5.3". */
  readonly source: string;
  /** Whether clients are kept from it (unless the gateway's allowPrivate lists it). */
  readonly blocked: boolean;
}

/** An IPv6 range whose addresses carry an IPv4 address at a fixed place. */
export interface Ipv4Embedding {
  readonly prefix: Cidr;
  /** Byte offset of the embedded IPv4 address. */
  readonly offset: number;
  readonly what: string;
  readonly source: string;
}

type Row = [prefix: string, what: string, source: string, blocked: 'blocked' | 'reachable'];

const ROWS: readonly Row[] = [
  // IPv4
  ['0.0.0.0/8', '"this network"', 'RFC 1122 section 3.2.1.3', 'blocked'],
  ['10.0.0.0/8', 'private use', 'RFC 1918', 'blocked'],
  ['100.64.0.0/10', 'shared address space (carrier-grade NAT; the tunnel pool lives here too)', 'RFC 6598', 'blocked'],
  ['127.0.0.0/8', 'loopback', 'RFC 1122 section 3.2.1.3', 'blocked'],
  ['169.254.0.0/16', 'link-local', 'RFC 3927', 'blocked'],
  ['172.16.0.0/12', 'private use', 'RFC 1918', 'blocked'],
  ['192.0.0.0/24', 'IETF protocol assignments (DS-Lite, NAT64 discovery …)', 'RFC 6890', 'blocked'],
  ['192.0.2.0/24', 'documentation (TEST-NET-1)', 'RFC 5737', 'reachable'],
  ['192.168.0.0/16', 'private use', 'RFC 1918', 'blocked'],
  ['198.18.0.0/15', 'benchmarking', 'RFC 2544', 'blocked'],
  ['198.51.100.0/24', 'documentation (TEST-NET-2)', 'RFC 5737', 'reachable'],
  ['203.0.113.0/24', 'documentation (TEST-NET-3)', 'RFC 5737', 'reachable'],
  ['224.0.0.0/4', 'multicast', 'RFC 5771', 'blocked'],
  ['240.0.0.0/4', 'reserved, and the limited broadcast address', 'RFC 1112 section 4, RFC 919', 'blocked'],
  // IPv6
  ['::/128', 'unspecified', 'RFC 4291 section 2.5.2', 'blocked'],
  ['::1/128', 'loopback', 'RFC 4291 section 2.5.3', 'blocked'],
  ['::ffff:0:0/96', 'IPv4-mapped', 'RFC 4291 section 2.5.5.2', 'blocked'],
  ['64:ff9b::/96', 'NAT64 well-known prefix (its private IPv4 part is blocked, see below)', 'RFC 6052', 'reachable'],
  ['64:ff9b:1::/48', 'local-use IPv4/IPv6 translation', 'RFC 8215', 'blocked'],
  ['100::/64', 'discard-only', 'RFC 6666', 'blocked'],
  ['2001:db8::/32', 'documentation', 'RFC 3849', 'reachable'],
  ['2002::/16', '6to4 (its private IPv4 part is blocked, see below)', 'RFC 3056', 'reachable'],
  ['fc00::/7', 'unique local', 'RFC 4193', 'blocked'],
  ['fe80::/10', 'link-local', 'RFC 4291 section 2.5.6', 'blocked'],
  ['ff00::/8', 'multicast', 'RFC 4291 section 2.7', 'blocked'],
];

/** Every special range this project knows, IPv4 first, each in address order. */
export const SPECIAL_RANGES: readonly SpecialRange[] = ROWS.map(([prefix, what, source, blocked]) => ({
  prefix: parseCidr(prefix),
  what,
  source,
  blocked: blocked === 'blocked',
}));

/**
 * IPv6 ranges that reach an IPv4 address through a translator or relay: a
 * client must not reach a private IPv4 range through them either. The whole
 * ranges stay reachable, so NAT64 (and 6to4) to public IPv4 keeps working.
 */
export const IPV4_EMBEDDINGS: readonly Ipv4Embedding[] = [
  { prefix: parseCidr('64:ff9b::/96'), offset: 12, what: 'NAT64 well-known prefix', source: 'RFC 6052 section 2.2' },
  { prefix: parseCidr('2002::/16'), offset: 2, what: '6to4', source: 'RFC 3056 section 2' },
];

/** The IPv6 prefix that carries `v4` (an IPv4 prefix) inside `e`. */
export function embedIpv4(e: Ipv4Embedding, v4: Cidr): Cidr {
  if (v4.family !== 4) throw new RangeError(`not an IPv4 prefix: ${formatCidr(v4)}`);
  const address = Uint8Array.from(e.prefix.address);
  address.set(v4.address, e.offset);
  return { family: 6, address, prefixLength: e.offset * 8 + v4.prefixLength };
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/**
 * The prefixes of one family, sorted by address, without any that another one
 * contains: what an nft interval set accepts.
 */
export function disjointPrefixes(prefixes: readonly Cidr[], family: 4 | 6): Cidr[] {
  const sorted = prefixes
    .filter((c) => c.family === family)
    .slice()
    .sort((a, b) => compareBytes(a.address, b.address) || a.prefixLength - b.prefixLength);
  const out: Cidr[] = [];
  for (const c of sorted) {
    const last = out[out.length - 1];
    if (last && containsAddress(last, c.address)) continue; // same start or inside the previous one
    out.push(c);
  }
  return out;
}

const blocked4 = SPECIAL_RANGES.filter((r) => r.blocked && r.prefix.family === 4).map((r) => r.prefix);
const blocked6 = SPECIAL_RANGES.filter((r) => r.blocked && r.prefix.family === 6).map((r) => r.prefix);

/** Destinations clients may not reach unless allow-listed: IPv4, sorted and disjoint. */
export const PRIVATE_IPV4: readonly Cidr[] = disjointPrefixes(blocked4, 4);
/** The same for IPv6, with PRIVATE_IPV4 inside every IPV4_EMBEDDINGS range. */
export const PRIVATE_IPV6: readonly Cidr[] = disjointPrefixes(
  [...blocked6, ...IPV4_EMBEDDINGS.flatMap((e) => PRIVATE_IPV4.map((v4) => embedIpv4(e, v4)))],
  6,
);

/** Whether clients are kept from this destination (before any allow-list). */
export function isPrivateDestination(address: Uint8Array): boolean {
  const list = address.length === 4 ? PRIVATE_IPV4 : PRIVATE_IPV6;
  return list.some((p) => containsAddress(p, address));
}

/** The most specific special range holding the address, if any. */
export function specialRangeOf(address: Uint8Array): SpecialRange | undefined {
  let best: SpecialRange | undefined;
  for (const r of SPECIAL_RANGES) {
    if (containsAddress(r.prefix, address) && (!best || r.prefix.prefixLength > best.prefix.prefixLength)) best = r;
  }
  return best;
}

// ---------------------------------------------------------------------------
// Named ranges the loaders and the data path test addresses against

/** IPv6 link-local unicast (RFC 4291 section 2.5.6): the one range a %zone belongs to. */
export const LINK_LOCAL_V6: Cidr = parseCidr('fe80::/10');
/** Unique local addresses (RFC 4193), both halves. */
export const UNIQUE_LOCAL: Cidr = parseCidr('fc00::/7');
/** The locally assigned half of RFC 4193 (L = 1): where a nat66 pool lies. fc00::/8 is cjdns's. */
export const ULA: Cidr = parseCidr('fd00::/8');
/** cjdns addresses (the L = 0 half of RFC 4193's range, which cjdns took). */
export const CJDNS: Cidr = parseCidr('fc00::/8');
/** Yggdrasil addresses and subnets (200::/8 and 300::/8, in the deprecated NSAP-mapped range of RFC 4048). */
export const YGGDRASIL: Cidr = parseCidr('200::/7');
/** IPv4-mapped IPv6 addresses (RFC 4291 section 2.5.5.2): how a dual-stack socket shows an IPv4 peer. */
export const V4_MAPPED: Cidr = parseCidr('::ffff:0:0/96');
/** The documentation ranges (RFC 5737, RFC 3849): the only ones tests and examples use. */
export const DOCUMENTATION: readonly Cidr[] = [
  '192.0.2.0/24',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '2001:db8::/32',
].map((text) => parseCidr(text));

/** Whether a 16-byte address is link-local unicast (fe80::/10). */
export function isLinkLocalV6(address: Uint8Array): boolean {
  return containsAddress(LINK_LOCAL_V6, address);
}

/** Whether a 16-byte address is ::ffff:a.b.c.d. */
export function isV4Mapped(address: Uint8Array): boolean {
  return containsAddress(V4_MAPPED, address);
}

/** A range with why an address in it is refused. */
export interface RefusedRange {
  readonly prefix: Cidr;
  readonly why: string;
}

/**
 * Never the unicast address of a host at the far end of a tunnel: no tunnel
 * pool, route into the tunnel, lease, gateway or DNS server lies here.
 */
export const NOT_UNICAST: readonly RefusedRange[] = (
  [
    ['0.0.0.0/8', 'this-network addresses'],
    ['127.0.0.0/8', 'loopback'],
    ['169.254.0.0/16', 'link-local'],
    ['224.0.0.0/4', 'multicast'],
    ['240.0.0.0/4', 'reserved or broadcast'],
    ['::/8', 'unspecified, loopback or IPv4-mapped'],
    ['fe80::/10', 'link-local'],
    ['ff00::/8', 'multicast'],
  ] as const
).map(([text, why]) => ({ prefix: parseCidr(text), why }));

/** The mesh the tunnel runs over: routing or leasing it into the tunnel would cut the tunnel's own path. */
export const MESH: readonly RefusedRange[] = [
  { prefix: YGGDRASIL, why: 'Yggdrasil: routing it into the tunnel would cut the mesh the tunnel runs over' },
];

/** Why `address` lies in one of `ranges`, or null. */
export function refusedWhy(address: Uint8Array, ranges: readonly RefusedRange[]): string | null {
  for (const r of ranges) if (containsAddress(r.prefix, address)) return r.why;
  return null;
}
