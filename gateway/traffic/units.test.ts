// Sizes and rates of the traffic policy: every spelling the format allows,
// each kind of refusal (code, field, the value named in one line), and the
// text formatting used in messages and the CLI.

import { describe, expect, it } from 'vitest';
import { FieldError } from '../../shared/config/config-error.js';
import { expectCoded } from '../../test/support/thrown.js';
import { formatRate, formatSize, parseRate, parseSize, RATE_MAX, RATE_MIN, SIZE_MAX } from './units.js';

const F = 'policies.x.quota.bytes';

describe('parseSize', () => {
  it.each<[string | number, number]>([
    [0, 0],
    [1500, 1500],
    ['1500', 1500],
    [' 42 ', 42],
    ['1B', 1],
    ['1.5kB', 1500],
    ['1.5KB', 1500],
    ['1.5kb', 1500],
    ['2MB', 2_000_000],
    ['200GB', 200e9],
    ['200 GB', 200e9],
    ['200gb', 200e9],
    ['3TB', 3e12],
    ['.5MB', 500_000],
    ['16KiB', 16_384],
    ['1MiB', 1_048_576],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['2TiB', 2 * 2 ** 40],
    ['1.0005kB', 1001], // rounded to whole bytes (1000.5 -> 1001)
    ['0.4B', 0],
  ])('%j is %d bytes', (text, bytes) => {
    expect(parseSize(text, F)).toBe(bytes);
  });

  it.each<[unknown, string, RegExp]>([
    [-1, 'range', /^policies\.x\.quota\.bytes: -1 is negative/],
    ['-5GB', 'range', /"-5GB" is negative/],
    [1.5, 'invalid', /1\.5 is not a whole number/],
    [NaN, 'invalid', /NaN is not a size/],
    ['NaN', 'invalid', /"NaN" is not a size \(a number of bytes, or a number with B, kB/],
    ['', 'invalid', /"" is not a size/],
    ['GB', 'invalid', /"GB" is not a size/],
    ['1e3', 'invalid', /"1e3" is not a size/],
    ['5XB', 'invalid', /"5XB" has an unknown unit; a size is a number of bytes/],
    ['5mib', 'invalid', /"5mib" has an unknown unit \(did you mean MiB\?\)/],
    ['5Mbit', 'invalid', /\(sizes are in bytes, not bits\)/],
    ['1,5GB', 'invalid', /"1,5GB" is not a size/],
    ['99999TB', 'range', /"99999TB" is too large \(at most 9007199254740991 bytes\)/],
    [SIZE_MAX + 2, 'range', /too large/],
    [true, 'type', /must be a size .*, got true$/],
    [null, 'type', /got an empty value/],
    [[1], 'type', /got a list/],
    [{ a: 1 }, 'type', /got a mapping/],
  ])('refuses %j (%s)', (value, code, message) => {
    const e = expectCoded(() => parseSize(value, F), FieldError, code as FieldError['code'], message);
    expect(e.field).toBe(F);
    expect(e.message).not.toContain('\n');
  });

  it('never repeats text that may hold a key', () => {
    const key = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
    const e = expectCoded(() => parseSize(`${key}GB`, F), FieldError, 'invalid');
    expect(e.message).not.toContain(key.slice(0, 16));
  });
});

describe('parseRate', () => {
  const R = 'policies.x.rate.down';
  it.each<[string | number, number]>([
    [8000, 8000],
    ['8000', 8000],
    ['8kbit', 8000],
    ['50Mbit', 50e6],
    ['50mbit', 50e6],
    ['50MBIT', 50e6],
    ['50 Mbit', 50e6],
    ['50Mbit/s', 50e6],
    ['50mbit/S', 50e6],
    ['1.5Mbit', 1.5e6],
    ['1Gbit', 1e9],
    ['100Gbit', RATE_MAX],
    ['10000bit', 10_000],
    ['8000.4bit', 8000], // rounded to whole bits per second
  ])('%j is %d bit/s', (text, bps) => {
    expect(parseRate(text, R)).toBe(bps);
  });

  it.each<[unknown, string, RegExp]>([
    [0, 'range', /^policies\.x\.rate\.down: 0 is out of range \(8 kbit\/s to 100 Gbit\/s\)$/],
    ['0Mbit', 'range', /"0Mbit" is out of range/],
    [7999, 'range', /7999 is out of range/],
    ['7.9kbit', 'range', /out of range/],
    ['101Gbit', 'range', /"101Gbit" is out of range \(8 kbit\/s to 100 Gbit\/s\)/],
    [-1, 'range', /-1 is negative/],
    ['-1Mbit', 'range', /negative/],
    [NaN, 'invalid', /NaN is not a rate/],
    [1e4 + 0.5, 'invalid', /not a whole number/],
    ['fast', 'invalid', /"fast" is not a rate \(a number of bits per second, or a number with bit, kbit, Mbit or Gbit/],
    ['50Tbit', 'invalid', /"50Tbit" has an unknown unit/],
    ['50Mbps', 'invalid', /\(write Mbit for bits per second\)/],
    ['50bps', 'invalid', /\(write bit for bits per second\)/],
    ['5MB/s', 'invalid', /\(rates are in bits per second \(8Mbit is 1 MB\/s\)\)/],
    ['5MiB', 'invalid', /rates are in bits per second/],
    ['50Mbit/h', 'invalid', /unknown unit/],
    [false, 'type', /must be a rate .*, got false$/],
  ])('refuses %j (%s)', (value, code, message) => {
    const e = expectCoded(() => parseRate(value, R), FieldError, code as FieldError['code'], message);
    expect(e.field).toBe(R);
  });

  it('has its limits at 8 kbit/s and 100 Gbit/s', () => {
    expect(RATE_MIN).toBe(8000);
    expect(RATE_MAX).toBe(100e9);
  });
});

describe('formatSize and formatRate', () => {
  it.each<[number, string]>([
    [0, '0 B'],
    [512, '512 B'],
    [999, '999 B'],
    [1000, '1 kB'],
    [16_384, '16.4 kB'],
    [1_500_000, '1.5 MB'],
    [999_700, '1 MB'],
    [1_234_567, '1.23 MB'],
    [50e9, '50 GB'],
    [200e9, '200 GB'],
    [3e12, '3 TB'],
    [5e18, '5000 PB'],
  ])('size %d is %s', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });

  it.each<[number, string]>([
    [8000, '8 kbit/s'],
    [999, '999 bit/s'],
    [1_500_000, '1.5 Mbit/s'],
    [50e6, '50 Mbit/s'],
    [100e9, '100 Gbit/s'],
  ])('rate %d is %s', (bps, text) => {
    expect(formatRate(bps)).toBe(text);
  });

  it('reads back what it writes, to three digits', () => {
    for (const bps of [8000, 12_345, 1_500_000, 7_654_321, 100e9]) {
      const back = parseRate(formatRate(bps), 'r');
      expect(Math.abs(back - bps) / bps).toBeLessThan(0.005);
    }
    for (const bytes of [1, 999, 16_384, 1_234_567, 200e9]) {
      const back = parseSize(formatSize(bytes), 's');
      expect(Math.abs(back - bytes) / bytes).toBeLessThan(0.005);
    }
  });
});
