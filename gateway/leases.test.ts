import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { formatCidr, formatIp, parseCidr, parseIp, type Cidr } from '../shared/net/address.js';
import { expectCoded } from '../test/support/thrown.js';
import {
  gatewayAddresses,
  generateUlaPrefix,
  LeaseError,
  planLeases,
  type ClientWant,
  type Lease,
  type LeaseErrorCode,
  type Pools,
} from './leases.js';

const T0 = 1_700_000_000_000;

function pools(v4: string, v6: string, mode: 128 | 64 = 128): Pools {
  return { ipv4: parseCidr(v4), ipv6: parseCidr(v6), ipv6LeasePrefixLength: mode };
}

/** A public key in WireGuard's text form, derived from a name. */
function key(name: string | number): string {
  return createHash('sha256').update(String(name)).digest('base64');
}

function want(name: string, fixed: { ipv4?: string; ipv6?: string } = {}): ClientWant {
  const w: ClientWant = { publicKey: key(name) };
  if (fixed.ipv4 !== undefined) w.fixedIpv4 = parseIp(fixed.ipv4);
  if (fixed.ipv6 !== undefined) w.fixedIpv6 = parseIp(fixed.ipv6);
  return w;
}

/** The leases as readable text, by client name. */
function addresses(leases: Lease[], names: string[]): Record<string, string> {
  const byKey = new Map(leases.map((l) => [l.publicKey, l]));
  const out: Record<string, string> = {};
  for (const n of names) {
    const l = byKey.get(key(n));
    if (l !== undefined) out[n] = `${formatIp(l.ipv4)} ${formatIp(l.ipv6)}/${l.ipv6PrefixLength}`;
  }
  return out;
}

function leaseOf(leases: Lease[], name: string): Lease {
  const l = leases.find((x) => x.publicKey === key(name));
  if (l === undefined) throw new Error(`no lease for ${name}`);
  return l;
}

function expectLeaseError(fn: () => unknown, code: LeaseErrorCode, message?: RegExp): void {
  expectCoded(fn, LeaseError, code, message);
}

const P = pools('100.64.0.0/16', 'fd12:3456:789a::/48');

describe('gatewayAddresses', () => {
  it('is the first host address of each pool', () => {
    const gw = gatewayAddresses(P);
    expect(formatIp(gw.ipv4)).toBe('100.64.0.1');
    expect(formatIp(gw.ipv6)).toBe('fd12:3456:789a::1');
    const gw64 = gatewayAddresses(pools('10.0.0.0/8', 'fd00:1:2::/48', 64));
    expect(formatIp(gw64.ipv4)).toBe('10.0.0.1');
    expect(formatIp(gw64.ipv6)).toBe('fd00:1:2::1');
  });

  it('rejects pools that cannot hold the gateway and a client', () => {
    expectLeaseError(() => gatewayAddresses(pools('100.64.0.0/31', 'fd00::/48')), 'invalid-pool', /\/30 or larger/);
    expectLeaseError(() => gatewayAddresses(pools('100.64.0.0/16', 'fd00::/127')), 'invalid-pool', /\/126 or larger/);
    expectLeaseError(() => gatewayAddresses(pools('100.64.0.0/16', 'fd00::/64', 64)), 'invalid-pool', /\/63 or larger/);
    const swapped = { ipv4: parseCidr('fd00::/48'), ipv6: parseCidr('100.64.0.0/16'), ipv6LeasePrefixLength: 128 };
    expectLeaseError(() => gatewayAddresses(swapped as Pools), 'invalid-pool');
    const hostBits: Cidr = { family: 4, address: parseIp('100.64.0.1'), prefixLength: 16 };
    expectLeaseError(() => gatewayAddresses({ ...P, ipv4: hostBits }), 'invalid-pool', /host bits/);
    expectLeaseError(() => gatewayAddresses({ ...P, ipv6LeasePrefixLength: 96 as 64 }), 'invalid-pool');
  });
});

describe('generateUlaPrefix (RFC 4193 section 3.2)', () => {
  it('is fd00::/8 plus a 40-bit random Global ID, a /48, different each time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const ula = generateUlaPrefix(randomBytes);
      expect(ula.family).toBe(6);
      expect(ula.prefixLength).toBe(48);
      expect(ula.address).toHaveLength(16);
      expect(ula.address[0]).toBe(0xfd);
      expect([...ula.address.subarray(6)]).toEqual(new Array(10).fill(0));
      expect(parseCidr(formatCidr(ula))).toEqual(ula);
      seen.add(formatCidr(ula));
    }
    expect(seen.size).toBe(50);
  });

  it('places the random bytes as the Global ID', () => {
    const ula = generateUlaPrefix(() => Uint8Array.of(0x12, 0x34, 0x56, 0x78, 0x9a));
    expect(formatCidr(ula)).toBe('fd12:3456:789a::/48');
  });

  it('rejects a random source that returns the wrong length', () => {
    expect(() => generateUlaPrefix(() => new Uint8Array(4))).toThrow(RangeError);
  });

  it('makes a pool that planLeases accepts', () => {
    const plan = planLeases([], [want('a')], { ...P, ipv6: generateUlaPrefix(randomBytes) }, T0);
    expect(plan.leases).toHaveLength(1);
  });
});

describe('planLeases: hand cases', () => {
  it('gives new clients the lowest free addresses, after the gateway', () => {
    const plan = planLeases([], [want('a'), want('b'), want('c')], P, T0);
    expect(plan.refused).toEqual([]);
    expect(addresses(plan.leases, ['a', 'b', 'c'])).toEqual({
      a: '100.64.0.2 fd12:3456:789a::2/128',
      b: '100.64.0.3 fd12:3456:789a::3/128',
      c: '100.64.0.4 fd12:3456:789a::4/128',
    });
    for (const l of plan.leases) expect(l.assignedAt).toBe(T0);
  });

  it('gives /64 prefixes from the second /64 on in /64 mode', () => {
    const plan = planLeases([], [want('a'), want('b')], pools('100.64.0.0/16', 'fd12:3456:789a::/48', 64), T0);
    expect(addresses(plan.leases, ['a', 'b'])).toEqual({
      a: '100.64.0.2 fd12:3456:789a:1::/64',
      b: '100.64.0.3 fd12:3456:789a:2::/64',
    });
  });

  it('keeps existing leases exactly (sticky), whatever the config order', () => {
    const first = planLeases([], [want('a'), want('b')], P, T0);
    const again = planLeases(first.leases, [want('z'), want('b'), want('a')], P, T0 + 60_000);
    expect(leaseOf(again.leases, 'a')).toEqual(leaseOf(first.leases, 'a'));
    expect(leaseOf(again.leases, 'b')).toEqual(leaseOf(first.leases, 'b'));
    expect(addresses(again.leases, ['z'])).toEqual({ z: '100.64.0.4 fd12:3456:789a::4/128' });
    expect(leaseOf(again.leases, 'z').assignedAt).toBe(T0 + 60_000);
    // Planning the same input twice gives the same output.
    expect(planLeases(again.leases, [want('z'), want('b'), want('a')], P, T0 + 120_000)).toEqual(again);
  });

  it('fills the gaps left by released leases first', () => {
    const first = planLeases([], [want('a'), want('b'), want('c')], P, T0);
    const withoutB = first.leases.filter((l) => l.publicKey !== key('b'));
    const plan = planLeases(withoutB, [want('a'), want('c'), want('d')], P, T0 + 1);
    expect(addresses(plan.leases, ['d'])).toEqual({ d: '100.64.0.3 fd12:3456:789a::3/128' });
  });

  it('lets a fixed address win: the dynamic lease holding it moves', () => {
    const first = planLeases([], [want('a'), want('b')], P, T0);
    expect(addresses(first.leases, ['a'])).toEqual({ a: '100.64.0.2 fd12:3456:789a::2/128' });
    const plan = planLeases(
      first.leases,
      [want('a'), want('b'), want('c', { ipv4: '100.64.0.2', ipv6: 'fd12:3456:789a::3' })],
      P,
      T0 + 1,
    );
    expect(addresses(plan.leases, ['a', 'b', 'c'])).toEqual({
      a: '100.64.0.4 fd12:3456:789a::2/128', // IPv4 moved, IPv6 kept
      b: '100.64.0.3 fd12:3456:789a::4/128', // IPv6 moved, IPv4 kept
      c: '100.64.0.2 fd12:3456:789a::3/128',
    });
    expect(leaseOf(plan.leases, 'a').assignedAt).toBe(T0 + 1);
    expect(leaseOf(plan.leases, 'b').assignedAt).toBe(T0 + 1);
  });

  it('moves a client to its new fixed address, and keeps it when the fixed setting goes', () => {
    const first = planLeases([], [want('a')], P, T0);
    const fixed = planLeases(first.leases, [want('a', { ipv4: '100.64.9.9', ipv6: 'fd12:3456:789a::99' })], P, T0 + 1);
    expect(addresses(fixed.leases, ['a'])).toEqual({ a: '100.64.9.9 fd12:3456:789a::99/128' });
    const unfixed = planLeases(fixed.leases, [want('a'), want('b')], P, T0 + 2);
    expect(leaseOf(unfixed.leases, 'a')).toEqual(leaseOf(fixed.leases, 'a'));
    expect(addresses(unfixed.leases, ['b'])).toEqual({ b: '100.64.0.2 fd12:3456:789a::2/128' });
  });

  it('keeps the lease of a removed client reserved and gives it back when it returns', () => {
    const first = planLeases([], [want('a'), want('b')], P, T0);
    const removed = planLeases(first.leases, [want('a'), want('c')], P, T0 + 1);
    expect(leaseOf(removed.leases, 'b')).toEqual(leaseOf(first.leases, 'b'));
    expect(addresses(removed.leases, ['c'])).toEqual({ c: '100.64.0.4 fd12:3456:789a::4/128' });
    expect(removed.leases.map((l) => l.publicKey)).toEqual([key('a'), key('c'), key('b')]); // configured first
    const back = planLeases(removed.leases, [want('a'), want('c'), want('b')], P, T0 + 2);
    expect(leaseOf(back.leases, 'b')).toEqual(leaseOf(first.leases, 'b'));
    expect(back.orphaned).toEqual([]);
  });

  it('moves leases that fall outside a changed pool, and keeps those inside', () => {
    const first = planLeases(
      [],
      [want('a'), want('b', { ipv4: '100.64.1.7' }), want('c', { ipv6: 'fd12:3456:789a:1::5' })],
      P,
      T0,
    );
    const smaller = pools('100.64.0.0/24', 'fd12:3456:789a::/64');
    const plan = planLeases(first.leases, [want('a'), want('b'), want('c')], smaller, T0 + 1);
    expect(leaseOf(plan.leases, 'a')).toEqual(leaseOf(first.leases, 'a'));
    expect(addresses(plan.leases, ['b', 'c'])).toEqual({
      b: '100.64.0.4 fd12:3456:789a::3/128', // IPv4 was outside: the lowest free one
      c: '100.64.0.3 fd12:3456:789a::4/128', // IPv6 was outside
    });
    const moved = planLeases(
      plan.leases,
      [want('a'), want('b'), want('c')],
      pools('100.65.0.0/16', 'fd99::/48'),
      T0 + 2,
    );
    expect(addresses(moved.leases, ['a', 'b', 'c'])).toEqual({
      a: '100.65.0.2 fd99::2/128',
      b: '100.65.0.3 fd99::3/128',
      c: '100.65.0.4 fd99::4/128',
    });
  });

  it('drops a reservation that no longer fits into `orphaned`', () => {
    const first = planLeases([], [want('a'), want('b')], P, T0);
    const plan = planLeases(first.leases, [want('a')], pools('100.64.0.0/16', 'fd99::/48'), T0 + 1);
    expect(plan.leases.map((l) => l.publicKey)).toEqual([key('a')]);
    expect(plan.orphaned).toEqual([leaseOf(first.leases, 'b')]);
    const fixedOver = planLeases(first.leases, [want('a'), want('c', { ipv4: '100.64.0.3' })], P, T0 + 1);
    expect(fixedOver.orphaned.map((l) => l.publicKey)).toEqual([key('b')]);
  });

  it('moves IPv6 leases of the other mode when the lease prefix length changes', () => {
    const first = planLeases([], [want('a'), want('b')], P, T0);
    const plan = planLeases(first.leases, [want('a'), want('b')], { ...P, ipv6LeasePrefixLength: 64 }, T0 + 1);
    expect(addresses(plan.leases, ['a', 'b'])).toEqual({
      a: '100.64.0.2 fd12:3456:789a:1::/64',
      b: '100.64.0.3 fd12:3456:789a:2::/64',
    });
  });

  it('refuses only the clients that do not fit in a tiny /29 pool', () => {
    const tiny = pools('100.64.0.8/29', 'fd12:3456:789a::/48');
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const plan = planLeases(
      [],
      names.map((n) => want(n)),
      tiny,
      T0,
    );
    expect(plan.leases.map((l) => formatIp(l.ipv4))).toEqual([
      '100.64.0.10',
      '100.64.0.11',
      '100.64.0.12',
      '100.64.0.13',
      '100.64.0.14',
    ]);
    expect(plan.refused).toEqual([
      { publicKey: key('f'), reason: 'pool-exhausted' },
      { publicKey: key('g'), reason: 'pool-exhausted' },
    ]);
    // Once one leaves for good (released), the next refused client gets its address.
    const released = plan.leases.filter((l) => l.publicKey !== key('c'));
    const next = planLeases(
      released,
      names.filter((n) => n !== 'c').map((n) => want(n)),
      tiny,
      T0 + 1,
    );
    expect(addresses(next.leases, ['f'])).toEqual({ f: '100.64.0.12 fd12:3456:789a::4/128' });
    expect(next.refused).toEqual([{ publicKey: key('g'), reason: 'pool-exhausted' }]);
  });

  it('never leases the network, gateway or broadcast address, nor pool::0 and pool::1', () => {
    const plan = planLeases(
      [],
      ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => want(n)),
      pools('192.168.77.0/29', 'fd00::/125'),
      T0,
    );
    const v4 = plan.leases.map((l) => formatIp(l.ipv4));
    const v6 = plan.leases.map((l) => formatIp(l.ipv6));
    for (const bad of ['192.168.77.0', '192.168.77.1', '192.168.77.7']) expect(v4).not.toContain(bad);
    for (const bad of ['fd00::', 'fd00::1']) expect(v6).not.toContain(bad);
    expect(v6).toEqual(['fd00::2', 'fd00::3', 'fd00::4', 'fd00::5', 'fd00::6']);
    expect(plan.refused.map((r) => r.publicKey)).toEqual([key('f')]);
    // Even when the state database says otherwise.
    const bogus: Lease = {
      publicKey: key('x'),
      ipv4: parseIp('192.168.77.1'),
      ipv6: parseIp('fd00::1'),
      ipv6PrefixLength: 128,
      assignedAt: T0,
    };
    const again = planLeases([bogus], [want('x')], pools('192.168.77.0/29', 'fd00::/125'), T0 + 1);
    expect(addresses(again.leases, ['x'])).toEqual({ x: '192.168.77.2 fd00::2/128' });
  });

  it('gives back the IPv4 address it took for a client refused for want of IPv6', () => {
    const p = pools('100.64.0.0/16', 'fd00::/126'); // IPv6: fd00::2 and fd00::3 only
    const c: Lease = {
      publicKey: key('c'),
      ipv4: parseIp('100.99.0.2'), // from an old pool
      ipv6: parseIp('fd00::3'),
      ipv6PrefixLength: 128,
      assignedAt: T0,
    };
    const plan = planLeases([c], [want('a'), want('b'), want('c')], p, T0 + 1);
    expect(plan.refused).toEqual([{ publicKey: key('b'), reason: 'pool-exhausted' }]);
    expect(addresses(plan.leases, ['a', 'c'])).toEqual({
      a: '100.64.0.2 fd00::2/128',
      c: '100.64.0.3 fd00::3/128',
    });
  });

  it('resolves two existing leases on one address: configured first, then the later assignment', () => {
    const p = pools('100.64.0.0/24', 'fd00::/64');
    const at = (name: string, ip4: string, ip6: string, t: number): Lease => ({
      publicKey: key(name),
      ipv4: parseIp(ip4),
      ipv6: parseIp(ip6),
      ipv6PrefixLength: 128,
      assignedAt: t,
    });
    const older = at('old', '100.64.0.5', 'fd00::5', T0);
    const newer = at('new', '100.64.0.5', 'fd00::6', T0 + 10);
    const plan = planLeases([older, newer], [want('old'), want('new')], p, T0 + 20);
    expect(leaseOf(plan.leases, 'new')).toEqual(newer);
    expect(addresses(plan.leases, ['old'])).toEqual({ old: '100.64.0.2 fd00::5/128' });
    const reserved = planLeases([older, newer], [want('old')], p, T0 + 20);
    expect(leaseOf(reserved.leases, 'old')).toEqual(older);
    expect(reserved.orphaned).toEqual([newer]);
  });

  it('rejects input that a validated config never produces, with a clear error', () => {
    expectLeaseError(() => planLeases([], [want('a'), want('a')], P, T0), 'invalid-client', /twice/);
    expectLeaseError(() => planLeases([], [{ publicKey: '' }], P, T0), 'invalid-client');
    for (const ip of ['100.64.0.0', '100.64.0.1', '100.64.255.255', '100.65.0.2']) {
      expectLeaseError(
        () => planLeases([], [want('a', { ipv4: ip })], P, T0),
        'invalid-fixed-address',
        new RegExp(ip.replaceAll('.', '\\.')),
      );
    }
    for (const ip of ['fd12:3456:789a::', 'fd12:3456:789a::1', 'fd12:3456:789b::2']) {
      expectLeaseError(() => planLeases([], [want('a', { ipv6: ip })], P, T0), 'invalid-fixed-address');
    }
    const p64 = pools('100.64.0.0/16', 'fd12:3456:789a::/48', 64);
    expectLeaseError(
      () => planLeases([], [want('a', { ipv6: 'fd12:3456:789a:5::1' })], p64, T0),
      'invalid-fixed-address',
    );
    expectLeaseError(() => planLeases([], [want('a', { ipv6: 'fd12:3456:789a::' })], p64, T0), 'invalid-fixed-address');
    expect(planLeases([], [want('a', { ipv6: 'fd12:3456:789a:5::' })], p64, T0).leases).toHaveLength(1);
    expectLeaseError(
      () => planLeases([], [{ publicKey: key('a'), fixedIpv4: new Uint8Array(16) }], P, T0),
      'invalid-fixed-address',
    );
    expectLeaseError(
      () => planLeases([], [want('a', { ipv4: '100.64.0.9' }), want('b', { ipv4: '100.64.0.9' })], P, T0),
      'duplicate-fixed-address',
    );
    for (const now of [-1, 1.5, Number.NaN]) expectLeaseError(() => planLeases([], [], P, now), 'invalid-time');
  });
});

// ---------------------------------------------------------------------------
// Randomized: sequences of config changes against the invariants.

/** mulberry32: a small seeded PRNG, so a failure replays exactly. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The state database as the gateway keeps it: Store.saveLeases semantics (upsert; other claims on an address dropped). */
function saveTo(state: Map<string, Lease>, leases: Lease[]): void {
  for (const l of leases) {
    for (const [k, o] of state) {
      if (k !== l.publicKey && (sameBytes(o.ipv4, l.ipv4) || sameBytes(o.ipv6, l.ipv6))) state.delete(k);
    }
    state.set(l.publicKey, l);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** A slow, obviously right check of "this address is leasable in these pools". */
function leasableV4(p: Pools, a: Uint8Array): boolean {
  const toNum = (b: Uint8Array) => ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  const base = toNum(p.ipv4.address);
  const size = 2 ** (32 - p.ipv4.prefixLength);
  const n = toNum(a);
  return a.length === 4 && n >= base + 2 && n <= base + size - 2;
}

function leasableV6(p: Pools, a: Uint8Array, prefixLength: number): boolean {
  if (a.length !== 16 || prefixLength !== p.ipv6LeasePrefixLength) return false;
  const toBig = (b: Uint8Array) => BigInt(`0x${hex(b)}`);
  const base = toBig(p.ipv6.address);
  const n = toBig(a);
  const size = 1n << BigInt(128 - p.ipv6.prefixLength);
  const unit = 1n << BigInt(128 - prefixLength);
  if (n < base || n >= base + size || (n - base) % unit !== 0n) return false;
  return (n - base) / unit >= (prefixLength === 128 ? 2n : 1n);
}

function capacity(p: Pools): { v4: number; v6: number } {
  return {
    v4: 2 ** (32 - p.ipv4.prefixLength) - 3,
    v6: 2 ** (p.ipv6LeasePrefixLength - p.ipv6.prefixLength) - (p.ipv6LeasePrefixLength === 128 ? 2 : 1),
  };
}

/**
 * Everything wrong with a plan, as text: no key or address twice; all inside the
 * pools and never a reserved address; each configured client leased or refused,
 * not both; refusals only when a pool is full; fixed addresses honoured; the last
 * plan's leases (configured or reserved) still valid and not fixed for another
 * client come back exactly; orphans are reservations only.
 */
function checkPlan(
  plan: ReturnType<typeof planLeases>,
  wants: ClientWant[],
  p: Pools,
  previous: Map<string, Lease>,
  state: Map<string, Lease>,
): string[] {
  const bad: string[] = [];
  const out = new Map(plan.leases.map((l) => [l.publicKey, l]));
  const n = plan.leases.length;
  if (out.size !== n) bad.push('a key twice');
  if (new Set(plan.leases.map((l) => hex(l.ipv4))).size !== n) bad.push('an IPv4 address twice');
  if (new Set(plan.leases.map((l) => hex(l.ipv6))).size !== n) bad.push('an IPv6 address twice');
  for (const l of plan.leases) {
    if (!leasableV4(p, l.ipv4)) bad.push(`IPv4 ${formatIp(l.ipv4)} not leasable in ${formatCidr(p.ipv4)}`);
    if (!leasableV6(p, l.ipv6, l.ipv6PrefixLength)) {
      bad.push(`IPv6 ${formatIp(l.ipv6)}/${l.ipv6PrefixLength} not leasable in ${formatCidr(p.ipv6)}`);
    }
  }
  const refused = new Set(plan.refused.map((x) => x.publicKey));
  const wanted = new Map(wants.map((w) => [w.publicKey, w]));
  for (const w of wants) {
    if (out.has(w.publicKey) === refused.has(w.publicKey)) bad.push(`${w.publicKey}: leased and refused, or neither`);
    const l = out.get(w.publicKey);
    if (l !== undefined && w.fixedIpv4 && !sameBytes(l.ipv4, w.fixedIpv4))
      bad.push(`${w.publicKey}: fixed IPv4 ignored`);
    if (l !== undefined && w.fixedIpv6 && !sameBytes(l.ipv6, w.fixedIpv6))
      bad.push(`${w.publicKey}: fixed IPv6 ignored`);
  }
  const fixedBy = new Map<string, string>();
  for (const w of wants) {
    if (w.fixedIpv4) fixedBy.set(`4:${hex(w.fixedIpv4)}`, w.publicKey);
    if (w.fixedIpv6) fixedBy.set(`6:${hex(w.fixedIpv6)}`, w.publicKey);
  }
  // A client is refused only for a family it needs a new address in, and only when
  // every address of that family is held: by a lease, or fixed for or kept by a refused client.
  const held4 = new Set(plan.leases.map((l) => hex(l.ipv4)));
  const held6 = new Set(plan.leases.map((l) => hex(l.ipv6)));
  const keeps = (k: string, family: 4 | 6): string | undefined => {
    const w = wanted.get(k)!;
    const fixed = family === 4 ? w.fixedIpv4 : w.fixedIpv6;
    if (fixed) return hex(fixed);
    const e = state.get(k);
    if (e === undefined) return undefined;
    const ok = family === 4 ? leasableV4(p, e.ipv4) : leasableV6(p, e.ipv6, e.ipv6PrefixLength);
    const a = hex(family === 4 ? e.ipv4 : e.ipv6);
    return ok && (fixedBy.get(`${family}:${a}`) ?? k) === k ? a : undefined;
  };
  for (const k of refused) {
    const a4 = keeps(k, 4);
    const a6 = keeps(k, 6);
    if (a4 !== undefined) held4.add(a4);
    if (a6 !== undefined) held6.add(a6);
  }
  const cap = capacity(p);
  for (const k of refused) {
    const full4 = keeps(k, 4) === undefined && held4.size >= cap.v4;
    const full6 = keeps(k, 6) === undefined && held6.size >= cap.v6;
    if (!full4 && !full6) bad.push(`${k}: refused with room left (${held4.size}/${cap.v4}, ${held6.size}/${cap.v6})`);
  }
  for (const [k, old] of previous) {
    if (!state.has(k)) continue; // released by the admin
    const w = wanted.get(k);
    const valid =
      leasableV4(p, old.ipv4) &&
      leasableV6(p, old.ipv6, old.ipv6PrefixLength) &&
      (fixedBy.get(`4:${hex(old.ipv4)}`) ?? k) === k &&
      (fixedBy.get(`6:${hex(old.ipv6)}`) ?? k) === k &&
      (!w?.fixedIpv4 || sameBytes(w.fixedIpv4, old.ipv4)) &&
      (!w?.fixedIpv6 || sameBytes(w.fixedIpv6, old.ipv6));
    const now = out.get(k);
    if (valid && (now === undefined || !sameLease(now, old))) bad.push(`${k}: a valid lease moved or vanished`);
  }
  for (const o of plan.orphaned) {
    if (wanted.has(o.publicKey)) bad.push(`${o.publicKey}: a configured client orphaned`);
    if (out.has(o.publicKey)) bad.push(`${o.publicKey}: orphaned and leased`);
  }
  return bad;
}

function sameLease(a: Lease, b: Lease): boolean {
  return (
    a.publicKey === b.publicKey &&
    sameBytes(a.ipv4, b.ipv4) &&
    sameBytes(a.ipv6, b.ipv6) &&
    a.ipv6PrefixLength === b.ipv6PrefixLength &&
    a.assignedAt === b.assignedAt
  );
}

const RANDOM_POOLS: Pools[] = [
  pools('100.64.0.0/27', 'fd00:1::/123'),
  pools('100.64.0.0/26', 'fd00:1::/122'),
  pools('100.64.0.32/27', 'fd00:1::/124'),
  pools('100.64.0.0/28', 'fd00:1::/120'),
  pools('100.64.0.0/24', 'fd00:1::/59', 64),
  pools('100.64.0.0/27', 'fd00:1::/58', 64),
];

describe('planLeases: randomized sequences against the invariants', () => {
  for (const seed of [1, 2, 3, 42, 2024, 31337, 8, 99]) {
    it(`holds every invariant (seed ${seed})`, () => {
      const rand = prng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
      const names = Array.from({ length: 40 }, (_, i) => `c${i}`);
      let p = pick(RANDOM_POOLS);
      const configured = new Map<string, ClientWant>(); // name -> want, in config order
      const state = new Map<string, Lease>();
      let previous = new Map<string, Lease>(); // the last plan's leases, by key
      let now = T0;
      const nameOf = new Map(names.map((n) => [key(n), n]));
      let refusals = 0;
      let moves = 0;
      let kept = 0;
      let orphans = 0;

      for (let step = 0; step < 400; step++) {
        now += 1 + Math.floor(rand() * 1000);
        const r = rand();
        if (r < 0.4) {
          const n = pick(names);
          if (!configured.has(n)) configured.set(n, { publicKey: key(n) });
        } else if (r < 0.6) {
          configured.delete(pick(names));
        } else if (r < 0.75) {
          // Fix a random leasable address for a configured client (not one fixed for another).
          const n = pick([...configured.keys()].concat(['none']));
          const w = configured.get(n);
          if (w !== undefined) {
            const others = [...configured.values()].filter((o) => o !== w);
            if (rand() < 0.5) {
              const cap = capacity(p).v4;
              const a = Uint8Array.from(p.ipv4.address);
              const n4 = (((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0) + 2 + Math.floor(rand() * cap);
              const ip = Uint8Array.of(n4 >>> 24, (n4 >>> 16) & 255, (n4 >>> 8) & 255, n4 & 255);
              if (!others.some((o) => o.fixedIpv4 && sameBytes(o.fixedIpv4, ip))) w.fixedIpv4 = ip;
            } else {
              const cap = capacity(p).v6;
              const first = p.ipv6LeasePrefixLength === 128 ? 2n : 1n;
              const index = first + BigInt(Math.floor(rand() * cap));
              const n6 = BigInt(`0x${hex(p.ipv6.address)}`) + (index << BigInt(128 - p.ipv6LeasePrefixLength));
              const ip = Uint8Array.from(Buffer.from(n6.toString(16).padStart(32, '0'), 'hex'));
              if (!others.some((o) => o.fixedIpv6 && sameBytes(o.fixedIpv6, ip))) w.fixedIpv6 = ip;
            }
          }
        } else if (r < 0.85) {
          const w = configured.get(pick(names));
          if (w !== undefined) {
            delete w.fixedIpv4;
            delete w.fixedIpv6;
          }
        } else if (r < 0.9) {
          p = pick(RANDOM_POOLS);
          // Fixed addresses that left the pool are config errors: the admin fixes them.
          for (const w of configured.values()) {
            if (w.fixedIpv4 && !leasableV4(p, w.fixedIpv4)) delete w.fixedIpv4;
            if (w.fixedIpv6 && !leasableV6(p, w.fixedIpv6, p.ipv6LeasePrefixLength)) delete w.fixedIpv6;
          }
        } else if (r < 0.95) {
          state.delete(key(pick(names))); // an admin releases a lease
        } // else: replan with nothing changed

        const wants = [...configured.values()].map((w) => ({ ...w }));
        const plan = planLeases([...state.values()], wants, p, now);

        const found = checkPlan(plan, wants, p, previous, state);
        expect(found, `seed ${seed}, step ${step}`).toEqual([]);
        refusals += plan.refused.length;
        orphans += plan.orphaned.length;
        for (const [k, old] of previous) {
          const l = plan.leases.find((x) => x.publicKey === k);
          if (l === undefined) continue;
          if (!sameBytes(l.ipv4, old.ipv4) || !sameBytes(l.ipv6, old.ipv6)) moves++;
          else if (!configured.has(nameOf.get(k)!)) kept++;
        }

        saveTo(state, plan.leases);
        previous = new Map(plan.leases.map((l) => [l.publicKey, l]));
      }
      // The sequence went through the interesting paths.
      console.log(`seed ${seed}: ${moves} moves, ${refusals} refusals, ${kept} reservations kept, ${orphans} orphaned`);
      expect(moves).toBeGreaterThan(0);
      expect(kept).toBeGreaterThan(0);
    });
  }
});

describe('planLeases: 10,000 clients', () => {
  it('plans a fresh start, a replan and a pool change well under a second each', () => {
    const wants = Array.from({ length: 10_000 }, (_, i) => ({ publicKey: key(i) }));
    const time = (fn: () => void): number => {
      const t = performance.now();
      fn();
      return performance.now() - t;
    };
    let fresh: Lease[] = [];
    const tFresh = time(() => {
      fresh = planLeases([], wants, P, T0).leases;
    });
    expect(fresh).toHaveLength(10_000);
    expect(formatIp(fresh[9_999]!.ipv4)).toBe('100.64.39.17'); // index 9,999 + 2 = 10,001 = 39 * 256 + 17
    let again: Lease[] = [];
    const tReplan = time(() => {
      again = planLeases(fresh, wants.slice().reverse(), P, T0 + 1).leases;
    });
    expect(new Map(again.map((l) => [l.publicKey, l]))).toEqual(new Map(fresh.map((l) => [l.publicKey, l])));
    let moved: Lease[] = [];
    const tMove = time(() => {
      moved = planLeases(fresh, wants, pools('100.65.0.0/16', 'fd99::/48', 64), T0 + 2).leases;
    });
    expect(moved).toHaveLength(10_000);
    // A crowded pool: 10,000 fixed clients scattered over a /18, 6,000 dynamic ones fill the gaps.
    const crowded = pools('100.64.0.0/18', 'fd12::/48');
    const rand = prng(7);
    const used = new Set<number>();
    const mixed: ClientWant[] = [];
    for (let i = 0; i < 16_000; i++) {
      const w: ClientWant = { publicKey: key(`m${i}`) };
      if (i % 8 < 5) {
        let n: number;
        do n = 2 + Math.floor(rand() * 16_380);
        while (used.has(n));
        used.add(n);
        w.fixedIpv4 = Uint8Array.of(100, 64, n >>> 8, n & 255);
      }
      mixed.push(w);
    }
    let crowdedPlan: ReturnType<typeof planLeases> | undefined;
    const tCrowded = time(() => {
      crowdedPlan = planLeases([], mixed, crowded, T0);
    });
    expect(crowdedPlan!.refused).toEqual([]);
    console.log(
      `planLeases, 10,000 clients: fresh ${tFresh.toFixed(0)} ms, sticky replan ${tReplan.toFixed(0)} ms, ` +
        `pool change ${tMove.toFixed(0)} ms; 16,000 clients (10,000 fixed) in a /18: ${tCrowded.toFixed(0)} ms`,
    );
    for (const t of [tFresh, tReplan, tMove, tCrowded]) expect(t).toBeLessThan(5_000);
  });
});
