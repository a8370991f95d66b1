import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCidr, formatIp, parseCidr, parseIp } from '../net/address.js';
import {
  AllowedIps,
  IPV4_DST_OFFSET,
  IPV4_SRC_OFFSET,
  IPV6_DST_OFFSET,
  IPV6_SRC_OFFSET,
  type Cidr,
} from './allowed-ips.js';

const c = parseCidr;

/** A trie holding each [prefix, value]. */
function trieOf<T>(entries: [string, T][]): AllowedIps<T> {
  const t = new AllowedIps<T>();
  for (const [prefix, value] of entries) t.insert(c(prefix), value);
  return t;
}

/** Each [address, value]: the address looks up to that value (undefined: no prefix holds it). */
function expectLookups<T>(t: AllowedIps<T>, cases: [string, T | undefined][]): void {
  for (const [address, value] of cases) expect(t.lookup(parseIp(address)), address).toBe(value);
}

describe('AllowedIps: hand cases', () => {
  // [what, the trie's prefixes and values, addresses and what each looks up to]
  const lookups: [string, [string, string][], [string, string | undefined][]][] = [
    [
      'finds the longest matching prefix, overlaps included',
      [
        ['0.0.0.0/0', 'default'],
        ['10.0.0.0/8', 'a'],
        ['10.1.0.0/16', 'b'],
        ['10.1.2.3/32', 'c'],
        ['10.1.2.0/24', 'd'],
      ],
      [
        ['10.1.2.3', 'c'],
        ['10.1.2.4', 'd'],
        ['10.1.3.4', 'b'],
        ['10.2.3.4', 'a'],
        ['11.0.0.0', 'default'],
        ['255.255.255.255', 'default'],
        ['::a01:203', undefined], // IPv4 prefixes never answer for IPv6
      ],
    ],
    [
      'handles /32 and /128 host routes next to each other',
      [
        ['192.0.2.1/32', 'one'],
        ['192.0.2.0/32', 'zero'],
        ['2001:db8::1/128', 'v6one'],
        ['2001:db8::/128', 'v6zero'],
      ],
      [
        ['192.0.2.1', 'one'],
        ['192.0.2.0', 'zero'],
        ['192.0.2.2', undefined],
        ['2001:db8::1', 'v6one'],
        ['2001:db8::', 'v6zero'],
        ['2001:db8::2', undefined],
      ],
    ],
    [
      'handles IPv6 /0 and prefixes on word boundaries',
      [
        ['::/0', 'all'],
        ['2001:db8::/32', 'p32'],
        ['2001:db8:0:1::/64', 'p64'],
        ['2001:db8:0:1:0:1::/96', 'p96'],
        ['2001:db8:0:1:0:1:8000:0/97', 'p97'],
      ],
      [
        ['fe80::1', 'all'],
        ['2001:db8:5::1', 'p32'],
        ['2001:db8:0:1:ffff::1', 'p64'],
        ['2001:db8:0:1:0:1:1:1', 'p96'],
        ['2001:db8:0:1:0:1:8000:1', 'p97'],
        ['10.0.0.1', undefined],
      ],
    ],
  ];
  it.each(lookups)('%s', (_, prefixes, cases) => {
    const t = trieOf(prefixes);
    expect(t.size).toBe(prefixes.length);
    expectLookups(t, cases);
  });

  it('reassigns an identical prefix to the new value, as WireGuard does', () => {
    const t = new AllowedIps<string>();
    t.insert(c('10.0.0.0/24'), 'old');
    t.insert(c('10.0.0.0/16'), 'other');
    t.insert(c('10.0.0.99/24'), 'new'); // same prefix once host bits are cleared
    expect(t.size).toBe(2);
    expect(t.lookup(parseIp('10.0.0.5'))).toBe('new');
    expect(t.entries('old')).toEqual([]);
    expect(t.entries('new').map(formatCidr)).toEqual(['10.0.0.0/24']);
  });

  it('removes single prefixes and keeps the rest reachable', () => {
    const t = new AllowedIps<string>();
    t.insert(c('10.0.0.0/8'), 'a');
    t.insert(c('10.1.0.0/16'), 'b');
    t.insert(c('10.0.0.0/24'), 'x');
    t.insert(c('10.0.1.0/24'), 'y'); // with the previous one, creates a fork at 10.0.0.0/23
    expect(t.remove(c('10.0.0.0/23'))).toBe(false); // the fork is not a prefix
    expect(t.remove(c('10.2.0.0/16'))).toBe(false);
    expect(t.remove(c('10.1.0.0/16'))).toBe(true);
    expect(t.remove(c('10.1.0.0/16'))).toBe(false);
    expect(t.lookup(parseIp('10.1.5.5'))).toBe('a');
    expect(t.remove(c('10.0.0.0/8'))).toBe(true);
    expect(t.lookup(parseIp('10.1.5.5'))).toBeUndefined();
    expect(t.lookup(parseIp('10.0.0.7'))).toBe('x');
    expect(t.lookup(parseIp('10.0.1.7'))).toBe('y');
    expect(t.remove(c('10.0.0.0/24'))).toBe(true);
    expect(t.lookup(parseIp('10.0.1.7'))).toBe('y');
    expect(t.size).toBe(1);
    expect(t.remove(c('10.0.1.0/24'))).toBe(true);
    expect(t.size).toBe(0);
    expect(t.entries()).toEqual([]);
  });

  it('removeValue drops every prefix of one peer and nothing else', () => {
    const t = new AllowedIps<{ name: string }>();
    const alice = { name: 'alice' };
    const bob = { name: 'bob' };
    t.insert(c('100.64.0.2/32'), alice);
    t.insert(c('fd00::2/128'), alice);
    t.insert(c('192.168.7.0/24'), alice);
    t.insert(c('100.64.0.3/32'), bob);
    t.insert(c('100.64.0.0/10'), bob);
    expect(t.entries(alice).map(formatCidr)).toEqual(['100.64.0.2/32', '192.168.7.0/24', 'fd00::2/128']);
    expect(t.removeValue(alice)).toBe(3);
    expect(t.size).toBe(2);
    expect(t.lookup(parseIp('100.64.0.2'))).toBe(bob); // falls back to bob's /10
    expect(t.lookup(parseIp('fd00::2'))).toBeUndefined();
    expect(t.entries().map(formatCidr)).toEqual(['100.64.0.0/10', '100.64.0.3/32']);
    expect(t.removeValue(alice)).toBe(0);
  });

  it('lists entries in address order, shorter prefixes first, IPv4 before IPv6', () => {
    const t = new AllowedIps<number>();
    for (const [text, v] of [
      ['fd00::/8', 1],
      ['10.0.0.0/8', 2],
      ['10.0.0.0/16', 3],
      ['9.0.0.0/8', 4],
      ['0.0.0.0/0', 5],
    ] as const) {
      t.insert(c(text), v);
    }
    expect(t.entries().map(formatCidr)).toEqual(['0.0.0.0/0', '9.0.0.0/8', '10.0.0.0/8', '10.0.0.0/16', 'fd00::/8']);
  });

  it('validates prefixes given as objects', () => {
    const t = new AllowedIps<number>();
    expect(() => t.insert({ family: 4, address: new Uint8Array(16), prefixLength: 8 }, 1)).toThrow(RangeError);
    expect(() => t.insert({ family: 6, address: new Uint8Array(16), prefixLength: 129 }, 1)).toThrow(RangeError);
    expect(() => t.lookup(new Uint8Array(5))).toThrow(RangeError);
    // Host bits in a hand-made Cidr are ignored.
    t.insert({ family: 4, address: Uint8Array.of(10, 9, 9, 9), prefixLength: 8 }, 7);
    expect(t.entries().map(formatCidr)).toEqual(['10.0.0.0/8']);
  });
});

describe('AllowedIps.lookupPacket', () => {
  /** A 28-byte IPv4 or 48-byte IPv6 packet (by the addresses' family) with only version and addresses set. */
  function ipPacket(src: string, dst: string): Uint8Array {
    const v6 = src.includes(':');
    const p = new Uint8Array(v6 ? 48 : 28);
    p[0] = v6 ? 0x60 : 0x45;
    p.set(parseIp(src), v6 ? IPV6_SRC_OFFSET : IPV4_SRC_OFFSET);
    p.set(parseIp(dst), v6 ? IPV6_DST_OFFSET : IPV4_DST_OFFSET);
    return p;
  }

  const t = new AllowedIps<string>();
  t.insert(c('100.64.0.2/32'), 'client');
  t.insert(c('0.0.0.0/0'), 'internet');
  t.insert(c('fd00::2/128'), 'client6');
  t.insert(c('::/0'), 'internet6');

  it('reads the source or destination at the right offset', () => {
    const p4 = ipPacket('100.64.0.2', '198.51.100.7');
    expect(t.lookupPacket(p4, 'src')).toBe('client');
    expect(t.lookupPacket(p4, 'dst')).toBe('internet');
    const p6 = ipPacket('2001:db8::7', 'fd00::2');
    expect(t.lookupPacket(p6, 'src')).toBe('internet6');
    expect(t.lookupPacket(p6, 'dst')).toBe('client6');
  });

  it('works on a view into a larger buffer', () => {
    const big = new Uint8Array(100);
    big.set(ipPacket('100.64.0.2', '1.1.1.1'), 16);
    expect(t.lookupPacket(big.subarray(16, 44), 'src')).toBe('client');
  });

  it('returns undefined for short packets and other versions', () => {
    expect(t.lookupPacket(new Uint8Array(0), 'dst')).toBeUndefined();
    expect(t.lookupPacket(ipPacket('100.64.0.2', '1.1.1.1').subarray(0, 19), 'src')).toBeUndefined();
    expect(t.lookupPacket(ipPacket('fd00::2', '::1').subarray(0, 39), 'src')).toBeUndefined();
    const p = ipPacket('100.64.0.2', '1.1.1.1');
    p[0] = 0x55;
    expect(t.lookupPacket(p, 'src')).toBeUndefined();
    p[0] = 0x05;
    expect(t.lookupPacket(p, 'src')).toBeUndefined();
  });

  it('a 20-byte IPv4 header and a 40-byte IPv6 header are enough', () => {
    expect(t.lookupPacket(ipPacket('100.64.0.2', '1.1.1.1').subarray(0, 20), 'src')).toBe('client');
    expect(t.lookupPacket(ipPacket('fd00::2', '::1').subarray(0, 40), 'src')).toBe('client6');
  });
});

// ---------------------------------------------------------------------------
// Randomized comparison against a slow reference.

/** The obvious implementation: a list of prefixes, each matched bit by bit. */
class ReferenceTable<T> {
  entries: { cidr: Cidr; value: T }[] = [];

  insert(cidr: Cidr, value: T): void {
    const existing = this.entries.find((e) => sameCidr(e.cidr, cidr));
    if (existing) existing.value = value;
    else this.entries.push({ cidr, value });
  }
  remove(cidr: Cidr): boolean {
    const i = this.entries.findIndex((e) => sameCidr(e.cidr, cidr));
    if (i === -1) return false;
    this.entries.splice(i, 1);
    return true;
  }
  removeValue(value: T): number {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.value !== value);
    return before - this.entries.length;
  }
  lookup(address: Uint8Array): T | undefined {
    let best: { cidr: Cidr; value: T } | undefined;
    for (const e of this.entries) {
      if (e.cidr.address.length !== address.length) continue;
      let matches = true;
      for (let bit = 0; bit < e.cidr.prefixLength; bit++) {
        const mask = 0x80 >> (bit % 8);
        if ((e.cidr.address[bit >> 3]! & mask) !== (address[bit >> 3]! & mask)) {
          matches = false;
          break;
        }
      }
      if (matches && (best === undefined || e.cidr.prefixLength > best.cidr.prefixLength)) best = e;
    }
    return best?.value;
  }
}

function sameCidr(a: Cidr, b: Cidr): boolean {
  return formatCidr(a) === formatCidr(b);
}

const PEERS = 12;
/** n in 5 chance, as a boolean. */
const chance = (n: number) => fc.integer({ min: 1, max: 5 }).map((x) => x <= n);

/**
 * A prefix whose leading byte(s) come from a few values, so that prefixes nest
 * and overlap often; short, medium and host-length prefixes mixed.
 */
function cidrArb(family: 4 | 6): fc.Arbitrary<Cidr> {
  const length = family === 4 ? 4 : 16;
  const maxBits = length * 8;
  return fc
    .record({
      bytes: fc.uint8Array({ minLength: length, maxLength: length }),
      lead: fc.constantFrom(10, 11, 0x20, 0xfd),
      second: fc.option(fc.integer({ min: 0, max: 3 }), { freq: 2 }),
      prefixLength: fc.oneof(
        { weight: 5, arbitrary: fc.constant(0) },
        { weight: 30, arbitrary: fc.integer({ min: 0, max: 16 }) },
        { weight: 45, arbitrary: fc.integer({ min: 0, max: maxBits }) },
        { weight: 20, arbitrary: fc.constant(maxBits) },
      ),
    })
    .map(({ bytes, lead, second, prefixLength }) => {
      const address = Uint8Array.from(bytes);
      address[0] = lead;
      if (second !== null) address[1] = second;
      return parseCidr(`${formatIp(address)}/${prefixLength}`);
    });
}
const anyCidrArb = fc.oneof(cidrArb(4), cidrArb(6));

/** A lookup address: random, or (mostly) inside or just beside a known prefix, resolved by addressOf(). */
interface AddressSpec {
  family: 4 | 6;
  bytes: Uint8Array;
  near: boolean;
  index: number;
  flip: boolean;
}
const addressSpecArb: fc.Arbitrary<AddressSpec> = fc.record({
  family: fc.constantFrom(4 as const, 6 as const),
  bytes: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  near: chance(4),
  index: fc.nat(),
  flip: chance(1),
});

function addressOf(spec: AddressSpec, family: 4 | 6, near: readonly Cidr[]): Uint8Array {
  const out = Uint8Array.from(spec.bytes.subarray(0, family === 4 ? 4 : 16));
  const candidates = near.filter((x) => x.family === family);
  if (candidates.length > 0 && spec.near) {
    // Keep the network bits of a known prefix, and sometimes flip the last of them.
    const base = candidates[spec.index % candidates.length]!;
    for (let bit = 0; bit < base.prefixLength; bit++) {
      const mask = 0x80 >> (bit % 8);
      out[bit >> 3] = (out[bit >> 3]! & ~mask) | (base.address[bit >> 3]! & mask);
    }
    if (base.prefixLength > 0 && spec.flip) {
      const bit = base.prefixLength - 1;
      out[bit >> 3]! ^= 0x80 >> (bit % 8);
    }
  }
  return out;
}

/** One step: an operation on both tables, then eight lookups compared. */
type Op =
  | { kind: 'insert'; cidr: Cidr; value: number }
  | { kind: 'remove'; known: boolean; index: number; cidr: Cidr }
  | { kind: 'removeValue'; value: number }
  | { kind: 'none' };
const valueArb = fc.integer({ min: 0, max: PEERS - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 55, arbitrary: fc.record({ kind: fc.constant('insert' as const), cidr: anyCidrArb, value: valueArb }) },
  {
    weight: 25,
    arbitrary: fc.record({ kind: fc.constant('remove' as const), known: chance(4), index: fc.nat(), cidr: anyCidrArb }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('removeValue' as const), value: valueArb }) },
  { weight: 18, arbitrary: fc.constant({ kind: 'none' as const }) },
);
const stepArb = fc.record({
  op: opArb,
  lookups: fc.array(addressSpecArb, { minLength: 8, maxLength: 8 }),
  entriesOf: valueArb,
});

describe('AllowedIps: property against a slow reference (fast-check, shrinking)', () => {
  it('agrees on inserts, removes and lookups', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 2000, size: 'max' }), (steps) => {
        const fast = new AllowedIps<number>();
        const slow = new ReferenceTable<number>();
        const known: Cidr[] = [];
        const sameEntries = (v: number) => {
          const fastEntries = fast.entries().map(formatCidr).sort();
          const slowEntries = slow.entries.map((e) => formatCidr(e.cidr)).sort();
          expect(fastEntries).toEqual(slowEntries);
          expect(fast.entries(v).map(formatCidr).sort()).toEqual(
            slow.entries
              .filter((e) => e.value === v)
              .map((e) => formatCidr(e.cidr))
              .sort(),
          );
        };
        for (const [n, { op, lookups, entriesOf }] of steps.entries()) {
          if (op.kind === 'insert') {
            fast.insert(op.cidr, op.value);
            slow.insert(op.cidr, op.value);
            known.push(op.cidr);
          } else if (op.kind === 'remove') {
            const cidr = known.length > 0 && op.known ? known[op.index % known.length]! : op.cidr;
            expect(fast.remove(cidr), `step ${n} remove ${formatCidr(cidr)}`).toBe(slow.remove(cidr));
          } else if (op.kind === 'removeValue') {
            expect(fast.removeValue(op.value)).toBe(slow.removeValue(op.value));
          }
          for (const spec of lookups) {
            const address = addressOf(spec, spec.family, known);
            const want = slow.lookup(address);
            const got = fast.lookup(address);
            if (got !== want) throw new Error(`step ${n}: lookup ${formatIp(address)} gave ${got}, want ${want}`);
          }
          if (fast.size !== slow.entries.length) expect(fast.size, `step ${n}`).toBe(slow.entries.length);
          if (n % 100 === 0) sameEntries(entriesOf);
        }
        sameEntries(0);
        // Drain everything: the trie must end empty.
        for (const e of [...slow.entries]) expect(fast.remove(e.cidr)).toBe(true);
        expect(fast.size).toBe(0);
        expect(fast.entries()).toEqual([]);
      }),
      { numRuns: 20 },
    );
  }, 60_000);
});

describe.skipIf(!process.env['MESHGATE_BENCH'])('AllowedIps: lookup speed (set MESHGATE_BENCH=1)', () => {
  it('1,000 random prefixes', () => {
    for (const family of [4, 6] as const) {
      const t = new AllowedIps<number>();
      const prefixes: Cidr[] = [];
      const drawn = fc.sample(
        fc.record({
          bytes: fc.uint8Array({ minLength: 16, maxLength: 16 }),
          bits: family === 4 ? fc.integer({ min: 8, max: 32 }) : fc.integer({ min: 16, max: 128 }),
        }),
        { numRuns: 2000, seed: 7 },
      );
      for (const { bytes, bits } of drawn) {
        if (t.size >= 1000) break;
        const cidr = parseCidr(`${formatIp(bytes.subarray(0, family === 4 ? 4 : 16))}/${bits}`);
        t.insert(cidr, t.size);
        prefixes.push(cidr);
      }
      // Packets whose destination is inside a random prefix (hits) or random (mostly misses).
      const packets: Uint8Array[] = [];
      for (const [i, spec] of fc.sample(addressSpecArb, { numRuns: 4096, seed: 7 }).entries()) {
        const p = new Uint8Array(family === 4 ? 20 : 40);
        p[0] = family === 4 ? 0x45 : 0x60;
        const addr = addressOf(spec, family, i % 2 === 0 ? prefixes : []);
        p.set(addr, family === 4 ? IPV4_DST_OFFSET : IPV6_DST_OFFSET);
        packets.push(p);
      }
      let sink = 0;
      const n = 3_000_000;
      for (let i = 0; i < 200_000; i++) sink += t.lookupPacket(packets[i & 4095]!, 'dst') ?? 0; // warm up
      const start = performance.now();
      for (let i = 0; i < n; i++) sink += t.lookupPacket(packets[i & 4095]!, 'dst') ?? 0;
      const seconds = (performance.now() - start) / 1000;
      console.log(
        `IPv${family}: ${(n / seconds / 1e6).toFixed(1)} M lookupPacket/s over 1,000 prefixes (sink ${sink})`,
      );
    }
  });
});
