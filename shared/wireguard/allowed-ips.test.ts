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

describe('AllowedIps: hand cases', () => {
  it('finds the longest matching prefix, overlaps included', () => {
    const t = new AllowedIps<string>();
    t.insert(c('0.0.0.0/0'), 'default');
    t.insert(c('10.0.0.0/8'), 'a');
    t.insert(c('10.1.0.0/16'), 'b');
    t.insert(c('10.1.2.3/32'), 'c');
    t.insert(c('10.1.2.0/24'), 'd');
    expect(t.size).toBe(5);
    expect(t.lookup(parseIp('10.1.2.3'))).toBe('c');
    expect(t.lookup(parseIp('10.1.2.4'))).toBe('d');
    expect(t.lookup(parseIp('10.1.3.4'))).toBe('b');
    expect(t.lookup(parseIp('10.2.3.4'))).toBe('a');
    expect(t.lookup(parseIp('11.0.0.0'))).toBe('default');
    expect(t.lookup(parseIp('255.255.255.255'))).toBe('default');
    // IPv4 prefixes never answer for IPv6.
    expect(t.lookup(parseIp('::a01:203'))).toBeUndefined();
  });

  it('handles /32 and /128 host routes next to each other', () => {
    const t = new AllowedIps<string>();
    t.insert(c('192.0.2.1/32'), 'one');
    t.insert(c('192.0.2.0/32'), 'zero');
    t.insert(c('2001:db8::1/128'), 'v6one');
    t.insert(c('2001:db8::/128'), 'v6zero');
    expect(t.lookup(parseIp('192.0.2.1'))).toBe('one');
    expect(t.lookup(parseIp('192.0.2.0'))).toBe('zero');
    expect(t.lookup(parseIp('192.0.2.2'))).toBeUndefined();
    expect(t.lookup(parseIp('2001:db8::1'))).toBe('v6one');
    expect(t.lookup(parseIp('2001:db8::'))).toBe('v6zero');
    expect(t.lookup(parseIp('2001:db8::2'))).toBeUndefined();
  });

  it('handles IPv6 /0 and prefixes on word boundaries', () => {
    const t = new AllowedIps<string>();
    t.insert(c('::/0'), 'all');
    t.insert(c('2001:db8::/32'), 'p32');
    t.insert(c('2001:db8:0:1::/64'), 'p64');
    t.insert(c('2001:db8:0:1:0:1::/96'), 'p96');
    t.insert(c('2001:db8:0:1:0:1:8000:0/97'), 'p97');
    expect(t.lookup(parseIp('fe80::1'))).toBe('all');
    expect(t.lookup(parseIp('2001:db8:5::1'))).toBe('p32');
    expect(t.lookup(parseIp('2001:db8:0:1:ffff::1'))).toBe('p64');
    expect(t.lookup(parseIp('2001:db8:0:1:0:1:1:1'))).toBe('p96');
    expect(t.lookup(parseIp('2001:db8:0:1:0:1:8000:1'))).toBe('p97');
    expect(t.lookup(parseIp('10.0.0.1'))).toBeUndefined();
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
  function ipv4Packet(src: string, dst: string): Uint8Array {
    const p = new Uint8Array(28);
    p[0] = 0x45;
    p.set(parseIp(src), IPV4_SRC_OFFSET);
    p.set(parseIp(dst), IPV4_DST_OFFSET);
    return p;
  }
  function ipv6Packet(src: string, dst: string): Uint8Array {
    const p = new Uint8Array(48);
    p[0] = 0x60;
    p.set(parseIp(src), IPV6_SRC_OFFSET);
    p.set(parseIp(dst), IPV6_DST_OFFSET);
    return p;
  }

  const t = new AllowedIps<string>();
  t.insert(c('100.64.0.2/32'), 'client');
  t.insert(c('0.0.0.0/0'), 'internet');
  t.insert(c('fd00::2/128'), 'client6');
  t.insert(c('::/0'), 'internet6');

  it('reads the source or destination at the right offset', () => {
    const p4 = ipv4Packet('100.64.0.2', '198.51.100.7');
    expect(t.lookupPacket(p4, 'src')).toBe('client');
    expect(t.lookupPacket(p4, 'dst')).toBe('internet');
    const p6 = ipv6Packet('2001:db8::7', 'fd00::2');
    expect(t.lookupPacket(p6, 'src')).toBe('internet6');
    expect(t.lookupPacket(p6, 'dst')).toBe('client6');
  });

  it('works on a view into a larger buffer', () => {
    const big = new Uint8Array(100);
    big.set(ipv4Packet('100.64.0.2', '1.1.1.1'), 16);
    expect(t.lookupPacket(big.subarray(16, 44), 'src')).toBe('client');
  });

  it('returns undefined for short packets and other versions', () => {
    expect(t.lookupPacket(new Uint8Array(0), 'dst')).toBeUndefined();
    expect(t.lookupPacket(ipv4Packet('100.64.0.2', '1.1.1.1').subarray(0, 19), 'src')).toBeUndefined();
    expect(t.lookupPacket(ipv6Packet('fd00::2', '::1').subarray(0, 39), 'src')).toBeUndefined();
    const p = ipv4Packet('100.64.0.2', '1.1.1.1');
    p[0] = 0x55;
    expect(t.lookupPacket(p, 'src')).toBeUndefined();
    p[0] = 0x05;
    expect(t.lookupPacket(p, 'src')).toBeUndefined();
  });

  it('a 20-byte IPv4 header and a 40-byte IPv6 header are enough', () => {
    expect(t.lookupPacket(ipv4Packet('100.64.0.2', '1.1.1.1').subarray(0, 20), 'src')).toBe('client');
    expect(t.lookupPacket(ipv6Packet('fd00::2', '::1').subarray(0, 40), 'src')).toBe('client6');
  });
});

// ---------------------------------------------------------------------------
// Randomized comparison against a slow reference.

/** mulberry32: a small seedable PRNG, so a failing seed reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

function randomCidr(rand: () => number, family: 4 | 6): Cidr {
  const length = family === 4 ? 4 : 16;
  const address = new Uint8Array(length);
  for (let i = 0; i < length; i++) address[i] = Math.floor(rand() * 256);
  // Draw the leading byte(s) from a few values so that prefixes nest and
  // overlap often; mix short, medium and host-length prefixes.
  address[0] = [10, 11, 0x20, 0xfd][Math.floor(rand() * 4)]!;
  if (rand() < 0.5) address[1] = Math.floor(rand() * 4);
  const maxBits = length * 8;
  const r = rand();
  const prefixLength =
    r < 0.05 ? 0 : r < 0.35 ? Math.floor(rand() * 17) : r < 0.8 ? Math.floor(rand() * (maxBits + 1)) : maxBits;
  return parseCidr(`${formatIp(address)}/${prefixLength}`);
}

function randomAddress(rand: () => number, family: 4 | 6, near: Cidr[]): Uint8Array {
  const length = family === 4 ? 4 : 16;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rand() * 256);
  const candidates = near.filter((x) => x.family === family);
  if (candidates.length > 0 && rand() < 0.8) {
    // Inside (or just beside) a known prefix: keep its network bits, and
    // sometimes flip the last of them.
    const base = candidates[Math.floor(rand() * candidates.length)]!;
    for (let bit = 0; bit < base.prefixLength; bit++) {
      const mask = 0x80 >> (bit % 8);
      out[bit >> 3] = (out[bit >> 3]! & ~mask) | (base.address[bit >> 3]! & mask);
    }
    if (base.prefixLength > 0 && rand() < 0.2) {
      const bit = base.prefixLength - 1;
      out[bit >> 3]! ^= 0x80 >> (bit % 8);
    }
  }
  return out;
}

describe('AllowedIps: randomized against a slow reference', () => {
  for (const seed of [1, 2, 3, 42, 20240607]) {
    it(`agrees on inserts, removes and lookups (seed ${seed})`, () => {
      const rand = prng(seed);
      const fast = new AllowedIps<number>();
      const slow = new ReferenceTable<number>();
      const known: Cidr[] = [];
      const peers = 12;
      for (let step = 0; step < 4000; step++) {
        const family: 4 | 6 = rand() < 0.5 ? 4 : 6;
        const op = rand();
        if (op < 0.55) {
          const cidr = randomCidr(rand, family);
          const value = Math.floor(rand() * peers);
          fast.insert(cidr, value);
          slow.insert(cidr, value);
          known.push(cidr);
        } else if (op < 0.8) {
          const cidr =
            known.length > 0 && rand() < 0.8 ? known[Math.floor(rand() * known.length)]! : randomCidr(rand, family);
          expect(fast.remove(cidr), `seed ${seed} step ${step} remove ${formatCidr(cidr)}`).toBe(slow.remove(cidr));
        } else if (op < 0.82) {
          const value = Math.floor(rand() * peers);
          expect(fast.removeValue(value)).toBe(slow.removeValue(value));
        }
        for (let i = 0; i < 8; i++) {
          const address = randomAddress(rand, rand() < 0.5 ? 4 : 6, known);
          const want = slow.lookup(address);
          const got = fast.lookup(address);
          if (got !== want) {
            throw new Error(`seed ${seed} step ${step}: lookup ${formatIp(address)} gave ${got}, want ${want}`);
          }
        }
        expect(fast.size).toBe(slow.entries.length);
        if (step % 500 === 0) {
          const fastEntries = fast.entries().map(formatCidr).sort();
          const slowEntries = slow.entries.map((e) => formatCidr(e.cidr)).sort();
          expect(fastEntries).toEqual(slowEntries);
          const v = Math.floor(rand() * peers);
          expect(fast.entries(v).map(formatCidr).sort()).toEqual(
            slow.entries
              .filter((e) => e.value === v)
              .map((e) => formatCidr(e.cidr))
              .sort(),
          );
        }
      }
      // Drain everything: the trie must end empty.
      for (const e of [...slow.entries]) expect(fast.remove(e.cidr)).toBe(true);
      expect(fast.size).toBe(0);
      expect(fast.entries()).toEqual([]);
    });
  }
});

describe.skipIf(!process.env['MESHGATE_BENCH'])('AllowedIps: lookup speed (set MESHGATE_BENCH=1)', () => {
  it('1,000 random prefixes', () => {
    for (const family of [4, 6] as const) {
      const rand = prng(7);
      const t = new AllowedIps<number>();
      const prefixes: Cidr[] = [];
      while (t.size < 1000) {
        const length = family === 4 ? 4 : 16;
        const address = new Uint8Array(length);
        for (let i = 0; i < length; i++) address[i] = Math.floor(rand() * 256);
        const bits = family === 4 ? 8 + Math.floor(rand() * 25) : 16 + Math.floor(rand() * 113);
        const cidr = parseCidr(`${formatIp(address)}/${bits}`);
        t.insert(cidr, t.size);
        prefixes.push(cidr);
      }
      // Packets whose destination is inside a random prefix (hits) or random (mostly misses).
      const packets: Uint8Array[] = [];
      for (let i = 0; i < 4096; i++) {
        const p = new Uint8Array(family === 4 ? 20 : 40);
        p[0] = family === 4 ? 0x45 : 0x60;
        const addr = randomAddress(rand, family, i % 2 === 0 ? prefixes : []);
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
