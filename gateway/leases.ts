// Lease pools: which IPv4 address and IPv6 address (or /64 prefix) each
// allowed client key holds. Pure arithmetic and allocation: no I/O, no clock
// (the caller passes `now`), no randomness of its own.
//
//   config (wants) + state database (existing leases) + pools
//     -> planLeases()
//     -> leases to save, clients refused (pool exhausted), reservations that no longer fit
//
// Who gets an address, strongest claim first:
//   1. a client's fixed address from the config;
//   2. the existing lease of a configured client (sticky: kept exactly);
//   3. the existing lease of a key no longer configured (a reservation: kept,
//      so that a client removed and re-added gets its old lease back; an admin
//      releases it explicitly);
//   4. the lowest free address, for configured clients that still lack one,
//      in config order.
// Between two existing leases of the same rank that claim one address (the
// store never holds such a pair; see Store.saveLeases) the later assignment
// wins: it is the one a later plan decided on.
//
// Which addresses are leasable:
//   IPv4  every host address of the pool except the network address, the
//         gateway's (network + 1) and the broadcast address;
//   IPv6  /128 leases: pool::2, pool::3, ... (pool::0 is the subnet-router
//         anycast address of RFC 4291 section 2.6.1, pool::1 the gateway's);
//         /64 leases: the 2nd, 3rd, ... /64 of the pool (the 1st holds the
//         gateway's pool::1).
// Taken addresses are kept as their index in the pool (a number for IPv4, a
// bigint for IPv6) in hash sets, and new addresses come from a cursor that only
// moves up, so a plan costs O(n log n) for n leases whatever the pool size.

import { firstHost, formatCidr, formatIp, type Cidr } from '../shared/net/address.js';
import { CodedError } from '../shared/errors.js';

export interface Pools {
  ipv4: Cidr;
  ipv6: Cidr;
  /** 128: one address per client; 64: a /64 prefix per client. */
  ipv6LeasePrefixLength: 128 | 64;
}

export interface Lease {
  /** The client's public key in base64 (its identity). */
  publicKey: string;
  /** 4 bytes. */
  ipv4: Uint8Array;
  /** 16 bytes: the address, or the start of the prefix. */
  ipv6: Uint8Array;
  /** 128 or 64. */
  ipv6PrefixLength: number;
  /** When these addresses were given to this key, unix ms. */
  assignedAt: number;
}

export interface ClientWant {
  publicKey: string;
  fixedIpv4?: Uint8Array;
  /** An address (/128 leases) or the start of a /64 (/64 leases). */
  fixedIpv6?: Uint8Array;
}

export type Refusal = 'pool-exhausted';

export interface LeasePlan {
  /** Every lease to hold from now on: configured clients in config order, then reservations. */
  leases: Lease[];
  /** Configured clients left without a lease. */
  refused: { publicKey: string; reason: Refusal }[];
  /**
   * Existing leases of keys no longer configured that do not fit any more (an
   * address outside the current pools, or now fixed for a configured client).
   * They are not in `leases`; the caller may release them.
   */
  orphaned: Lease[];
}

export const LeaseErrorCodes = [
  'invalid-pool', // a pool is malformed, or too small to hold the gateway and one client
  'invalid-client', // empty or duplicate public key among the wanted clients
  'invalid-fixed-address', // a fixed address that is not a leasable address of its pool
  'duplicate-fixed-address', // two clients with the same fixed address
  'invalid-time', // `now` is not a non-negative integer
] as const;

export type LeaseErrorCode = (typeof LeaseErrorCodes)[number];

/** Input that a validated configuration never produces. */
export class LeaseError extends CodedError<LeaseErrorCode> {
  override readonly name = 'LeaseError';
}

/** The gateway's own tunnel addresses: the first host address of each pool (checked first, as planLeases checks it). */
export function gatewayAddresses(p: Pools): { ipv4: Uint8Array; ipv6: Uint8Array } {
  new Ipv4Space(p.ipv4);
  new Ipv6Space(p);
  return { ipv4: firstHost(p.ipv4), ipv6: firstHost(p.ipv6) };
}

const ULA_GLOBAL_ID_LEN = 5; // 40 bits (RFC 4193 section 3.1)

/**
 * A new unique local IPv6 prefix (RFC 4193 section 3.2): fd00::/8 (FC00::/7
 * with the L bit set) followed by a 40-bit pseudo-random Global ID, a /48.
 * `random` should be a cryptographic source (node:crypto randomBytes).
 */
export function generateUlaPrefix(random: (n: number) => Uint8Array): Cidr {
  const globalId = random(ULA_GLOBAL_ID_LEN);
  if (!(globalId instanceof Uint8Array) || globalId.length !== ULA_GLOBAL_ID_LEN) {
    throw new RangeError(`the random source returned ${describeBytes(globalId)} instead of ${ULA_GLOBAL_ID_LEN} bytes`);
  }
  const address = new Uint8Array(IPV6_LEN);
  address[0] = 0xfd;
  address.set(globalId, 1);
  return { family: 6, address, prefixLength: 48 };
}

/** Marks a fixed address's index taken and returns it; refuses one already fixed for another client. */
function takeFixed<I>(taken: Set<I>, index: I, key: string, family: 4 | 6, address: Uint8Array): I {
  if (taken.has(index)) {
    throw new LeaseError(
      'duplicate-fixed-address',
      `client ${key}: fixed IPv${family} address ${formatIp(address)} is fixed for another client too`,
    );
  }
  taken.add(index);
  return index;
}

/** Decides the lease of every client; see the top of this file for the rules. */
export function planLeases(existing: Lease[], wants: ClientWant[], pools: Pools, now: number): LeasePlan {
  if (!Number.isSafeInteger(now) || now < 0) {
    throw new LeaseError('invalid-time', `now must be a non-negative integer of unix milliseconds, not ${now}`);
  }
  const v4 = new Ipv4Space(pools.ipv4);
  const v6 = new Ipv6Space(pools);
  const taken4 = new Set<number>();
  const taken6 = new Set<bigint>();

  // 1. Fixed addresses.
  const slots = new Map<string, Slot>();
  for (const want of wants) {
    const key = want.publicKey;
    if (typeof key !== 'string' || key === '') {
      throw new LeaseError('invalid-client', 'a client has an empty public key');
    }
    if (slots.has(key)) throw new LeaseError('invalid-client', `client ${key} is listed twice`);
    const slot: Slot = { publicKey: key };
    if (want.fixedIpv4 !== undefined) {
      const index = v4.indexOf(want.fixedIpv4);
      if (index === undefined) {
        throw new LeaseError(
          'invalid-fixed-address',
          `client ${key}: fixed IPv4 address ${describeAddress(want.fixedIpv4)} is not a leasable address of ` +
            `${formatCidr(pools.ipv4)} (the network, gateway and broadcast addresses are not)`,
        );
      }
      slot.index4 = takeFixed(taken4, index, key, 4, want.fixedIpv4);
    }
    if (want.fixedIpv6 !== undefined) {
      const index = v6.indexOf(want.fixedIpv6);
      if (index === undefined) {
        throw new LeaseError(
          'invalid-fixed-address',
          `client ${key}: fixed IPv6 ${v6.leasePrefixLength === 64 ? 'prefix' : 'address'} ` +
            `${describeAddress(want.fixedIpv6)} is not a leasable ${v6.describeLease()} of ${formatCidr(pools.ipv6)}`,
        );
      }
      slot.index6 = takeFixed(taken6, index, key, 6, want.fixedIpv6);
    }
    slots.set(key, slot);
  }

  // 2 and 3. Existing leases, strongest claim first.
  const ranked = rankExisting(existing, slots);
  const reservations: Lease[] = [];
  const orphaned: Lease[] = [];
  for (const lease of ranked) {
    const index4 = v4.indexOf(lease.ipv4);
    const index6 = lease.ipv6PrefixLength === v6.leasePrefixLength ? v6.indexOf(lease.ipv6) : undefined;
    const free4 = index4 !== undefined && !taken4.has(index4);
    const free6 = index6 !== undefined && !taken6.has(index6);
    const slot = slots.get(lease.publicKey);
    if (slot !== undefined) {
      slot.existing = lease;
      slot.existingIndex4 = index4;
      slot.existingIndex6 = index6;
      // Each family on its own: a lease whose IPv6 pool changed keeps its IPv4 address.
      if (slot.index4 === undefined && free4) {
        taken4.add(index4);
        slot.index4 = index4;
      }
      if (slot.index6 === undefined && free6) {
        taken6.add(index6);
        slot.index6 = index6;
      }
    } else if (free4 && free6) {
      taken4.add(index4);
      taken6.add(index6);
      reservations.push(copyLease(lease));
    } else {
      orphaned.push(copyLease(lease));
    }
  }

  // 4. New addresses, lowest free first.
  const alloc4 = new Allocator(taken4, v4.firstIndex, v4.lastIndex, 1);
  const alloc6 = new Allocator(taken6, v6.firstIndex, v6.lastIndex, 1n);
  const leases: Lease[] = [];
  const refused: LeasePlan['refused'] = [];
  for (const slot of slots.values()) {
    let allocated4: number | undefined;
    if (slot.index4 === undefined) {
      allocated4 = alloc4.take();
      if (allocated4 === undefined) {
        refused.push({ publicKey: slot.publicKey, reason: 'pool-exhausted' });
        continue;
      }
      slot.index4 = allocated4;
    }
    if (slot.index6 === undefined) {
      const allocated6 = alloc6.take();
      if (allocated6 === undefined) {
        // Give back what this step took, so that a client needing only IPv4 can have it.
        if (allocated4 !== undefined) {
          alloc4.give(allocated4);
          slot.index4 = undefined;
        }
        refused.push({ publicKey: slot.publicKey, reason: 'pool-exhausted' });
        continue;
      }
      slot.index6 = allocated6;
    }
    const old = slot.existing;
    if (
      old !== undefined &&
      slot.existingIndex4 === slot.index4 &&
      slot.existingIndex6 === slot.index6 &&
      old.ipv6PrefixLength === v6.leasePrefixLength
    ) {
      leases.push(copyLease(old));
    } else {
      leases.push({
        publicKey: slot.publicKey,
        ipv4: v4.bytesAtIndex(slot.index4),
        ipv6: v6.bytesAtIndex(slot.index6),
        ipv6PrefixLength: v6.leasePrefixLength,
        assignedAt: now,
      });
    }
  }
  reservations.sort((a, b) => compareStrings(a.publicKey, b.publicKey));
  return { leases: leases.concat(reservations), refused, orphaned };
}

// ---------------------------------------------------------------------------
// Internals

const IPV4_LEN = 4;
const IPV6_LEN = 16;

interface Slot {
  publicKey: string;
  /** The address decided so far (fixed, kept, or allocated). */
  index4?: number;
  index6?: bigint;
  existing?: Lease;
  existingIndex4?: number | undefined;
  existingIndex6?: bigint | undefined;
}

/**
 * Existing leases in the order their claims are honoured: configured clients
 * before reservations, later assignments first, then by key (for a total,
 * reproducible order). One lease per key: the latest.
 */
function rankExisting(existing: Lease[], slots: Map<string, Slot>): Lease[] {
  const byKey = new Map<string, Lease>();
  for (const lease of existing) {
    const seen = byKey.get(lease.publicKey);
    if (seen === undefined || seen.assignedAt < lease.assignedAt) byKey.set(lease.publicKey, lease);
  }
  return [...byKey.values()].sort((a, b) => {
    const ca = slots.has(a.publicKey) ? 0 : 1;
    const cb = slots.has(b.publicKey) ? 0 : 1;
    if (ca !== cb) return ca - cb;
    if (a.assignedAt !== b.assignedAt) return b.assignedAt - a.assignedAt;
    return compareStrings(a.publicKey, b.publicKey);
  });
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function copyLease(l: Lease): Lease {
  return {
    publicKey: l.publicKey,
    ipv4: Uint8Array.from(l.ipv4),
    ipv6: Uint8Array.from(l.ipv6),
    ipv6PrefixLength: l.ipv6PrefixLength,
    assignedAt: l.assignedAt,
  };
}

/** Hands out the lowest index in [first, last] that is not taken. */
class Allocator<T extends number | bigint> {
  private next: T;
  constructor(
    private readonly taken: Set<T>,
    first: T,
    private readonly last: T,
    private readonly one: T,
  ) {
    this.next = first;
  }

  take(): T | undefined {
    // Everything below `next` is taken, so each index is looked at about once per plan.
    while (this.next <= this.last && this.taken.has(this.next)) this.next = this.step(this.next);
    if (this.next > this.last) return undefined;
    const index = this.next;
    this.taken.add(index);
    this.next = this.step(index);
    return index;
  }

  give(index: T): void {
    this.taken.delete(index);
    if (index < this.next) this.next = index;
  }

  private step(x: T): T {
    return ((x as number) + (this.one as number)) as T; // number + number or bigint + bigint
  }
}

/** Refuses a pool that is not a prefix of `family` (wrong shape, family or address length). */
function checkPoolFamily(pool: Cidr | null | undefined, family: 4 | 6): asserts pool is Cidr {
  if (
    pool === null ||
    typeof pool !== 'object' ||
    pool.family !== family ||
    !(pool.address instanceof Uint8Array) ||
    pool.address.length !== (family === 4 ? IPV4_LEN : IPV6_LEN)
  ) {
    throw new LeaseError('invalid-pool', `the IPv${family} pool is not an IPv${family} prefix`);
  }
}

/** The IPv4 pool; an address is known by its offset from the network address. */
class Ipv4Space {
  readonly base: number;
  readonly firstIndex = 2; // network + 0 is the network address, + 1 the gateway's
  readonly lastIndex: number; // the one before the broadcast address

  constructor(readonly pool: Cidr) {
    checkPoolFamily(pool, 4);
    const p = pool.prefixLength;
    if (!Number.isInteger(p) || p < 0 || p > 30) {
      throw new LeaseError(
        'invalid-pool',
        `the IPv4 pool ${formatCidr(pool)} must be /30 or larger (prefix length 0..30)`,
      );
    }
    this.base = readUint32(pool.address);
    const size = 2 ** (32 - p);
    if (this.base % size !== 0)
      throw new LeaseError('invalid-pool', `the IPv4 pool ${formatCidr(pool)} has host bits set`);
    this.lastIndex = size - 2;
  }

  /** The offset of a leasable address, or undefined (wrong length, outside, network, gateway, broadcast). */
  indexOf(address: Uint8Array): number | undefined {
    if (!(address instanceof Uint8Array) || address.length !== IPV4_LEN) return undefined;
    const index = readUint32(address) - this.base;
    return index >= this.firstIndex && index <= this.lastIndex ? index : undefined;
  }

  bytesAtIndex(index: number): Uint8Array {
    return this.bytesAtOffset(index);
  }

  bytesAtOffset(offset: number): Uint8Array {
    const n = this.base + offset;
    return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  }
}

/** The IPv6 pool; a lease is known by its index: its offset in units of the lease size. */
class Ipv6Space {
  readonly leasePrefixLength: 128 | 64;
  readonly base: bigint;
  readonly firstIndex: bigint;
  readonly lastIndex: bigint;
  private readonly poolShift: bigint; // host bits of the pool
  private readonly leaseShift: bigint; // host bits of one lease

  constructor(pools: Pools) {
    const pool = pools?.ipv6;
    const mode = pools?.ipv6LeasePrefixLength;
    if (mode !== 128 && mode !== 64) {
      throw new LeaseError('invalid-pool', `the IPv6 lease prefix length must be 128 or 64, not ${mode}`);
    }
    checkPoolFamily(pool, 6);
    const p = pool.prefixLength;
    const longest = mode === 128 ? 126 : 63; // room for the gateway's and at least one client's
    if (!Number.isInteger(p) || p < 0 || p > longest) {
      throw new LeaseError(
        'invalid-pool',
        `the IPv6 pool ${formatCidr(pool)} must be /${longest} or larger for /${mode} leases`,
      );
    }
    this.leasePrefixLength = mode;
    this.base = readBigInt(pool.address);
    this.poolShift = BigInt(128 - p);
    this.leaseShift = BigInt(128 - mode);
    if ((this.base & ((1n << this.poolShift) - 1n)) !== 0n) {
      throw new LeaseError('invalid-pool', `the IPv6 pool ${formatCidr(pool)} has host bits set`);
    }
    this.firstIndex = mode === 128 ? 2n : 1n;
    this.lastIndex = (1n << BigInt(mode - p)) - 1n;
  }

  describeLease(): string {
    return this.leasePrefixLength === 128 ? 'address (pool::2 and up)' : '/64 prefix start (the 2nd /64 and up)';
  }

  /** The index of a leasable address or prefix start, or undefined. */
  indexOf(address: Uint8Array): bigint | undefined {
    if (!(address instanceof Uint8Array) || address.length !== IPV6_LEN) return undefined;
    const a = readBigInt(address);
    if (a >> this.poolShift !== this.base >> this.poolShift) return undefined;
    const offset = a - this.base;
    if ((offset & ((1n << this.leaseShift) - 1n)) !== 0n) return undefined; // not a /64 start
    const index = offset >> this.leaseShift;
    return index >= this.firstIndex && index <= this.lastIndex ? index : undefined;
  }

  bytesAtIndex(index: bigint): Uint8Array {
    return this.bytesAtOffset(index << this.leaseShift);
  }

  bytesAtOffset(offset: bigint): Uint8Array {
    let n = this.base + offset;
    const out = new Uint8Array(IPV6_LEN);
    for (let i = IPV6_LEN - 1; i >= 0; i--) {
      out[i] = Number(n & 0xffn);
      n >>= 8n;
    }
    return out;
  }
}

function readUint32(b: Uint8Array): number {
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

function readBigInt(b: Uint8Array): bigint {
  // Two 64-bit halves: much cheaper than 16 byte steps.
  const view = new DataView(b.buffer, b.byteOffset, IPV6_LEN);
  return (view.getBigUint64(0) << 64n) | view.getBigUint64(8);
}

function describeAddress(bytes: unknown): string {
  if (bytes instanceof Uint8Array && (bytes.length === IPV4_LEN || bytes.length === IPV6_LEN)) return formatIp(bytes);
  return describeBytes(bytes);
}

function describeBytes(value: unknown): string {
  return value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
}
