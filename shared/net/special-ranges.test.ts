// The special-range list: what is blocked, what stays reachable, the sets the
// firewall renders (sorted, disjoint), and a randomized check of
// isPrivateDestination against a slow reading of the list.

import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { formatCidr, formatIp, parseCidr, parseIp } from './address.js';
import {
  CJDNS,
  containsAddress,
  disjointPrefixes,
  DOCUMENTATION,
  embedIpv4,
  IPV4_EMBEDDINGS,
  isLinkLocalV6,
  isPrivateDestination,
  isV4Mapped,
  PRIVATE_IPV4,
  PRIVATE_IPV6,
  SPECIAL_RANGES,
  specialRangeOf,
  ULA,
  UNIQUE_LOCAL,
  YGGDRASIL,
} from './special-ranges.js';

const BLOCKED = [
  // IPv4
  '0.1.2.3',
  '10.1.2.3',
  '100.64.0.1',
  '100.127.255.255',
  '127.0.0.1',
  '169.254.1.1',
  '172.16.0.1',
  '172.31.255.255',
  '192.0.0.170', // NAT64 discovery (RFC 7050)
  '192.168.1.1',
  '198.18.0.1',
  '198.19.255.255',
  '224.0.0.251',
  '239.255.255.250',
  '255.255.255.255',
  // IPv6
  '::',
  '::1',
  '::ffff:10.0.0.1',
  '::ffff:8.8.8.8', // IPv4-mapped is never a destination on the wire
  '64:ff9b::10.1.2.3', // NAT64 into RFC 1918
  '64:ff9b::192.168.1.1',
  '64:ff9b::127.0.0.1',
  '64:ff9b::169.254.169.254', // a cloud metadata service through NAT64
  '64:ff9b::100.64.0.1',
  '64:ff9b:1::1', // local-use translation prefix, whatever it embeds
  '64:ff9b:1:ffff:ffff::1',
  '100::1',
  '2002:a00:1::1', // 6to4 of 10.0.0.1
  '2002:c0a8:101::1', // 6to4 of 192.168.1.1
  '2002:7f00:1::1', // 6to4 of 127.0.0.1
  'fc00::1',
  'fd12:3456:789a::1',
  'fe80::1',
  'ff02::1',
];

const REACHABLE = [
  '1.1.1.1',
  '8.8.8.8',
  '100.63.255.255',
  '100.128.0.0',
  '172.32.0.1',
  '192.0.1.1',
  '192.0.2.1', // documentation: the tests' "Internet"
  '198.17.255.255',
  '198.20.0.0',
  '198.51.100.1',
  '203.0.113.1',
  '223.255.255.255',
  '2001:db8::1',
  '2001:db8:100::1',
  '2001:4860:4860::8888',
  '64:ff9b::8.8.8.8', // NAT64 to the public Internet keeps working
  '64:ff9b::198.51.100.1',
  '64:ff9b:2::1',
  '2002:808:808::1', // 6to4 of 8.8.8.8
  '2002:c633:6401::1', // 6to4 of 198.51.100.1
  '200:1234::1', // Yggdrasil
];

describe('special ranges', () => {
  it.each(BLOCKED)('%s is a private destination', (a) => {
    expect(isPrivateDestination(parseIp(a))).toBe(true);
  });

  it.each(REACHABLE)('%s is not', (a) => {
    expect(isPrivateDestination(parseIp(a))).toBe(false);
  });

  it('names the source of every range, and keeps the documentation ranges reachable', () => {
    for (const r of SPECIAL_RANGES) expect(r.source, formatCidr(r.prefix)).toMatch(/^RFC \d{3,4}\b/);
    const doc = SPECIAL_RANGES.filter((r) => r.what.startsWith('documentation')).map((r) => formatCidr(r.prefix));
    expect(doc).toEqual(['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32']);
    for (const r of SPECIAL_RANGES.filter((x) => x.what.startsWith('documentation'))) {
      expect(r.blocked).toBe(false);
      const all = r.prefix.family === 4 ? PRIVATE_IPV4 : PRIVATE_IPV6;
      expect(all.some((p) => containsAddress(p, r.prefix.address) || containsAddress(r.prefix, p.address))).toBe(false);
    }
  });

  it('lists the ranges the review asked for, by their RFCs', () => {
    const by = (text: string) => SPECIAL_RANGES.find((r) => formatCidr(r.prefix) === text);
    expect(by('10.0.0.0/8')).toMatchObject({ source: 'RFC 1918', blocked: true });
    expect(by('100.64.0.0/10')).toMatchObject({ source: 'RFC 6598', blocked: true });
    expect(by('169.254.0.0/16')).toMatchObject({ source: 'RFC 3927', blocked: true });
    expect(by('192.0.0.0/24')).toMatchObject({ source: 'RFC 6890', blocked: true });
    expect(by('198.18.0.0/15')).toMatchObject({ source: 'RFC 2544', blocked: true });
    expect(by('64:ff9b:1::/48')).toMatchObject({ source: 'RFC 8215', blocked: true });
    expect(by('fc00::/7')).toMatchObject({ source: 'RFC 4193', blocked: true });
    expect(by('64:ff9b::/96')?.source).toBe('RFC 6052');
    expect(by('2002::/16')?.source).toBe('RFC 3056');
  });

  it('embeds IPv4 where RFC 6052 and RFC 3056 put it', () => {
    const [nat64, sixToFour] = IPV4_EMBEDDINGS;
    // RFC 6052 section 2.4: 192.0.2.33 under the well-known prefix is 64:ff9b::192.0.2.33.
    expect(formatCidr(embedIpv4(nat64!, parseCidr('192.0.2.33/32')))).toBe('64:ff9b::c000:221/128');
    // RFC 3056 section 2: 2002:V4ADDR::/48.
    expect(formatCidr(embedIpv4(sixToFour!, parseCidr('192.0.2.33/32')))).toBe('2002:c000:221::/48');
    expect(formatCidr(embedIpv4(sixToFour!, parseCidr('10.0.0.0/8')))).toBe('2002:a00::/24');
    expect(() => embedIpv4(nat64!, parseCidr('fd00::/8'))).toThrow(RangeError);
  });

  it('gives the firewall sorted, disjoint sets covering every blocked range', () => {
    for (const [list, family] of [
      [PRIVATE_IPV4, 4],
      [PRIVATE_IPV6, 6],
    ] as const) {
      expect(disjointPrefixes(list, family)).toEqual(list);
      for (const r of SPECIAL_RANGES.filter((x) => x.blocked && x.prefix.family === family)) {
        expect(
          list.some((p) => containsAddress(p, r.prefix.address) && p.prefixLength <= r.prefix.prefixLength),
          formatCidr(r.prefix),
        ).toBe(true);
      }
    }
  });

  it('names the most specific range of an address', () => {
    expect(specialRangeOf(parseIp('64:ff9b:1::1'))?.source).toBe('RFC 8215');
    expect(specialRangeOf(parseIp('64:ff9b::1'))?.source).toBe('RFC 6052');
    expect(specialRangeOf(parseIp('8.8.8.8'))).toBeUndefined();
  });

  it('agrees with a slow reading of the list on random addresses near the special ranges', () => {
    const blocked = SPECIAL_RANGES.filter((r) => r.blocked).map((r) => r.prefix);
    const slow = (a: Uint8Array): boolean => {
      if (blocked.some((p) => containsAddress(p, a))) return true;
      return IPV4_EMBEDDINGS.some((e) => containsAddress(e.prefix, a) && slow(a.subarray(e.offset, e.offset + 4)));
    };
    const seeds = [...SPECIAL_RANGES.map((r) => r.prefix), ...IPV4_EMBEDDINGS.map((e) => e.prefix)];
    const seeds4 = seeds.filter((s) => s.family === 4);
    for (let i = 0; i < 20_000; i++) {
      // A random address, its first bytes often taken from a special range (and then from an embedded IPv4 range).
      const seed = seeds[randomInt(seeds.length)]!;
      const a = new Uint8Array(randomBytes(seed.address.length));
      if (randomInt(4) > 0) a.set(seed.address.subarray(0, randomInt(Math.ceil(seed.prefixLength / 8) + 1)));
      const e = IPV4_EMBEDDINGS.find((x) => containsAddress(x.prefix, a));
      if (e && randomInt(2) === 0) {
        const v4 = seeds4[randomInt(seeds4.length)]!;
        a.set(v4.address.subarray(0, randomInt(5)), e.offset);
      }
      expect(isPrivateDestination(a), formatIp(a)).toBe(slow(a));
    }
  });
});

describe('named ranges', () => {
  it('link-local, v4-mapped, the meshes and the documentation ranges', () => {
    expect(isLinkLocalV6(parseIp('fe80::1'))).toBe(true);
    expect(isLinkLocalV6(parseIp('febf:ffff::1'))).toBe(true);
    expect(isLinkLocalV6(parseIp('fec0::1'))).toBe(false);
    expect(isLinkLocalV6(parseIp('192.0.2.1'))).toBe(false);
    expect(isV4Mapped(parseIp('::ffff:192.0.2.1'))).toBe(true);
    expect(isV4Mapped(parseIp('::192.0.2.1'))).toBe(false);
    expect(isV4Mapped(parseIp('192.0.2.1'))).toBe(false);
    expect(containsAddress(YGGDRASIL, parseIp('200:1234::1'))).toBe(true);
    expect(containsAddress(YGGDRASIL, parseIp('300::1'))).toBe(true);
    expect(containsAddress(CJDNS, parseIp('fc12::1'))).toBe(true);
    expect(containsAddress(ULA, parseIp('fc12::1'))).toBe(false);
    expect(containsAddress(UNIQUE_LOCAL, parseIp('fc12::1'))).toBe(true);
    expect(DOCUMENTATION.map(formatCidr)).toEqual([
      '192.0.2.0/24',
      '198.51.100.0/24',
      '203.0.113.0/24',
      '2001:db8::/32',
    ]);
  });
});
