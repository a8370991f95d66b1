import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  containsAddress,
  equalBytes,
  firstHost,
  formatCidr,
  formatIp,
  hasHostBits,
  lastAddress,
  overlaps,
  parseCidr,
  parseIp,
  tryParseIp,
} from './address.js';

const c = parseCidr;

describe('parseIp / formatIp', () => {
  it('round-trips IPv4', () => {
    expect(Array.from(parseIp('192.0.2.1'))).toEqual([192, 0, 2, 1]);
    expect(formatIp(parseIp('0.0.0.0'))).toBe('0.0.0.0');
    expect(formatIp(parseIp('255.255.255.255'))).toBe('255.255.255.255');
  });

  it('formats IPv6 as RFC 5952 section 4 recommends', () => {
    const cases: [string, string][] = [
      ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group is not compressed
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // a tie: the first run
      ['2001:DB8::ABCD', '2001:db8::abcd'], // lower case
      ['0:0:0:0:0:0:0:0', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['fd00:0:0:0:0:0:0:0', 'fd00::'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'], // IPv4-mapped keeps the dotted quad (section 5)
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
      ['1::', '1::'],
      ['1:0:0:2::', '1:0:0:2::'],
    ];
    for (const [input, canonical] of cases) {
      const bytes = parseIp(input);
      expect(bytes.length).toBe(16);
      expect(formatIp(bytes)).toBe(canonical);
      expect(formatIp(parseIp(canonical))).toBe(canonical);
    }
  });

  it('rejects malformed addresses with a RangeError', () => {
    const bad = [
      '',
      '10.0.0',
      '10.0.0.0.1',
      '10.0.0.256',
      '01.2.3.4',
      '1.2.3.-4',
      ' 1.2.3.4',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7::8',
      ':1::',
      '1:::2',
      '12345::',
      'fe80::1%eth0',
      '1.2.3.4::',
      '::1.2.3',
      '::1.2.3.4:5',
      'g::1',
    ];
    for (const text of bad) expect(() => parseIp(text), text).toThrow(RangeError);
    expect(() => formatIp(new Uint8Array(5))).toThrow(RangeError);
  });
});

describe('parseCidr / formatCidr', () => {
  it('parses prefixes and bare addresses, clearing host bits as wg does', () => {
    expect(formatCidr(c('10.0.0.1/32'))).toBe('10.0.0.1/32');
    expect(formatCidr(c('10.0.0.0/8'))).toBe('10.0.0.0/8');
    expect(formatCidr(c('10.1.2.3/8'))).toBe('10.0.0.0/8');
    expect(formatCidr(c('10.1.2.3/13'))).toBe('10.0.0.0/13');
    expect(formatCidr(c('10.15.2.3/13'))).toBe('10.8.0.0/13');
    expect(formatCidr(c('192.0.2.7'))).toBe('192.0.2.7/32');
    expect(formatCidr(c('0.0.0.0/0'))).toBe('0.0.0.0/0');
    expect(formatCidr(c('1.2.3.4/0'))).toBe('0.0.0.0/0');
    expect(formatCidr(c('2001:db8::/32'))).toBe('2001:db8::/32');
    expect(formatCidr(c('2001:db8:ffff::1/33'))).toBe('2001:db8:8000::/33');
    expect(formatCidr(c('fd00::1/128'))).toBe('fd00::1/128');
    expect(formatCidr(c('fd00::1'))).toBe('fd00::1/128');
    expect(formatCidr(c('::/0'))).toBe('::/0');
    expect(formatCidr(c(' 10.0.0.0/24 '))).toBe('10.0.0.0/24');
    expect(c('10.0.0.0/8').family).toBe(4);
    expect(c('::/0').family).toBe(6);
  });

  it('rejects bad prefixes with a RangeError that names the input', () => {
    for (const text of [
      '10.0.0.0/33',
      '::/129',
      '10.0.0.0/',
      '10.0.0.0/-1',
      '10.0.0.0/+8',
      '10.0.0.0/8/8',
      'x/8',
      '/8',
    ]) {
      expect(() => c(text), text).toThrow(RangeError);
    }
    expect(() => c('10.0.0.0/33')).toThrow(/10\.0\.0\.0\/33/);
  });
});

describe('tryParseIp', () => {
  it('gives the bytes of a literal and null for anything else', () => {
    expect(Array.from(tryParseIp('192.0.2.1')!)).toEqual([192, 0, 2, 1]);
    expect(tryParseIp('2001:db8::1')).toEqual(parseIp('2001:db8::1'));
    for (const text of ['', '192.0.2.01', '127.1', 'fe80::1%eth0', 'gw.example.net']) {
      expect(tryParseIp(text), text).toBeNull();
    }
  });
});

describe('containment and overlap', () => {
  it('containsAddress: inside, outside, across families, /0', () => {
    expect(containsAddress(c('192.0.2.0/24'), parseIp('192.0.2.255'))).toBe(true);
    expect(containsAddress(c('192.0.2.0/24'), parseIp('192.0.3.0'))).toBe(false);
    expect(containsAddress(c('192.0.2.0/24'), parseIp('::ffff:192.0.2.1'))).toBe(false);
    expect(containsAddress(c('::/0'), parseIp('2001:db8::1'))).toBe(true);
    expect(containsAddress(c('fe80::/10'), parseIp('febf::1'))).toBe(true);
    expect(containsAddress(c('fe80::/10'), parseIp('fec0::1'))).toBe(false);
  });

  it('containsAddress ignores host bits of a prefix given as an object', () => {
    const loose = { family: 4 as const, address: parseIp('192.0.2.77'), prefixLength: 24 };
    expect(containsAddress(loose, parseIp('192.0.2.1'))).toBe(true);
  });

  it('overlaps: either way round, never across families', () => {
    expect(overlaps(c('10.0.0.0/8'), c('10.1.0.0/16'))).toBe(true);
    expect(overlaps(c('10.1.0.0/16'), c('10.0.0.0/8'))).toBe(true);
    expect(overlaps(c('10.0.0.0/16'), c('10.1.0.0/16'))).toBe(false);
    expect(overlaps(c('0.0.0.0/0'), c('::/0'))).toBe(false);
  });

  it('equalBytes and hasHostBits', () => {
    expect(equalBytes(parseIp('192.0.2.1'), parseIp('192.0.2.1'))).toBe(true);
    expect(equalBytes(parseIp('0.0.0.0'), parseIp('::'))).toBe(false);
    expect(hasHostBits(parseIp('192.0.2.0'), 24)).toBe(false);
    expect(hasHostBits(parseIp('192.0.2.1'), 24)).toBe(true);
    expect(hasHostBits(parseIp('2001:db8::'), 32)).toBe(false);
    expect(hasHostBits(parseIp('2001:db8::'), 16)).toBe(true);
  });
});

describe('pools', () => {
  it('firstHost is the network address + 1, carrying across bytes', () => {
    expect(formatIp(firstHost(c('100.64.0.0/16')))).toBe('100.64.0.1');
    expect(formatIp(firstHost(c('fd00:1::/48')))).toBe('fd00:1::1');
    const odd = { family: 4 as const, address: parseIp('10.0.0.255'), prefixLength: 32 };
    expect(formatIp(firstHost(odd))).toBe('10.0.1.0');
  });

  it('lastAddress sets every host bit', () => {
    expect(formatIp(lastAddress(c('100.64.0.0/16')))).toBe('100.64.255.255');
    expect(formatIp(lastAddress(c('192.0.2.4/30')))).toBe('192.0.2.7');
    expect(formatIp(lastAddress(c('2001:db8::/64')))).toBe('2001:db8::ffff:ffff:ffff:ffff');
    expect(formatCidr(c('192.0.2.7/32'))).toBe('192.0.2.7/32');
  });
});

describe('prefix arithmetic (from the gateway configuration tests)', () => {
  it('contains, overlaps, first and last addresses', () => {
    const p = parseCidr('100.64.0.0/10');
    expect(containsAddress(p, parseIp('100.127.255.255'))).toBe(true);
    expect(containsAddress(p, parseIp('100.128.0.0'))).toBe(false);
    expect(containsAddress(p, parseIp('::1'))).toBe(false);
    expect(containsAddress(parseCidr('0.0.0.0/0'), parseIp('203.0.113.1'))).toBe(true);
    expect(overlaps(p, parseCidr('100.100.0.0/16'))).toBe(true);
    expect(overlaps(parseCidr('100.100.0.0/16'), p)).toBe(true);
    expect(overlaps(p, parseCidr('100.128.0.0/9'))).toBe(false);
    expect(overlaps(parseCidr('fd00::/8'), parseCidr('100.64.0.0/10'))).toBe(false);
    expect(formatIp(firstHost(parseCidr('fd12:3456:789a::/48')))).toBe('fd12:3456:789a::1');
    expect(formatIp(lastAddress(p))).toBe('100.127.255.255');
    expect(formatIp(lastAddress(parseCidr('100.64.0.0/30')))).toBe('100.64.0.3');
  });

  it('contains agrees with a slow reference on random prefixes', () => {
    const bit = (a: Uint8Array, i: number) => (a[i >> 3]! >> (7 - (i & 7))) & 1;
    for (let n = 0; n < 2000; n++) {
      const len = n % 2 === 0 ? 4 : 16;
      const address = randomBytes(len);
      const prefixLength = randomBytes(1)[0]! % (len * 8 + 1);
      const prefix = parseCidr(`${formatIp(address)}/${prefixLength}`);
      const probe = Uint8Array.from(address);
      if (n % 3 === 0) probe[randomBytes(1)[0]! % len]! ^= 1 << (randomBytes(1)[0]! % 8);
      let expected = true;
      for (let i = 0; i < prefixLength; i++) if (bit(probe, i) !== bit(prefix.address, i)) expected = false;
      expect(containsAddress(prefix, probe)).toBe(expected);
    }
  });
});
