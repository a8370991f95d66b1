import { describe, expect, it } from 'vitest';
import { compareTai64n, isAfter, tai64n, TAI64N_LEN } from './tai64n.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('tai64n', () => {
  it('writes the 2^62 + 10 + seconds label and whitened nanoseconds, big-endian', () => {
    // Expected values worked out by hand (struct.pack('>QI', 2**62 + 10 + s, ns & ~(2**24 - 1))).
    expect(hex(tai64n(0))).toBe('400000000000000a00000000');
    // 2024-01-01T00:00:00.123Z: 123,000,000 ns rounds down to 7 * 2^24.
    expect(hex(tai64n(1_704_067_200_123))).toBe('400000006592008a07000000');
    expect(hex(tai64n(1_704_067_200_999))).toBe('400000006592008a3b000000');
    // 2100-01-01: seconds past 2^31.
    expect(hex(tai64n(4_102_444_800_000))).toBe('40000000f486570a00000000');
    // Seconds past 2^32 carry into the high word.
    expect(hex(tai64n(2 ** 32 * 1000 + 5))).toBe('400000010000000a00000000');
    // Before 1970 still orders correctly.
    expect(hex(tai64n(-1000))).toBe('400000000000000900000000');
    expect(tai64n(0).length).toBe(TAI64N_LEN);
  });

  it('rounds the nanoseconds down to a multiple of 2^24 ns (whitening)', () => {
    for (let ms = 0; ms < 1000; ms += 7) {
      const ns = new DataView(tai64n(1_700_000_000_000 + ms).buffer).getUint32(8);
      expect(ns % 2 ** 24).toBe(0);
      expect(ns).toBeLessThanOrEqual(ms * 1e6);
      expect(ms * 1e6 - ns).toBeLessThan(2 ** 24);
    }
    // Times less than 2^24 ns apart (in the same slot) give the same timestamp.
    expect(hex(tai64n(1_700_000_000_000))).toBe(hex(tai64n(1_700_000_000_016)));
    expect(hex(tai64n(1_700_000_000_016))).not.toBe(hex(tai64n(1_700_000_000_017)));
  });

  it('refuses a non-finite clock', () => {
    expect(() => tai64n(Number.NaN)).toThrow(RangeError);
    expect(() => tai64n(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});

describe('compareTai64n / isAfter', () => {
  it('orders timestamps by time', () => {
    const times = [-5000, 0, 16, 17, 999, 1000, 1_700_000_000_000, 1_700_000_000_500, 2 ** 32 * 1000, 2 ** 40 * 1000];
    for (const a of times) {
      for (const b of times) {
        const ta = tai64n(a);
        const tb = tai64n(b);
        const cmp = compareTai64n(ta, tb);
        const sameSlot = hex(ta) === hex(tb);
        if (sameSlot) expect(cmp).toBe(0);
        else expect(Math.sign(cmp)).toBe(Math.sign(a - b));
        expect(isAfter(ta, tb)).toBe(cmp > 0);
      }
    }
  });

  it('is strict: an equal timestamp is not after', () => {
    const t = tai64n(1_700_000_000_000);
    expect(isAfter(t, Uint8Array.from(t))).toBe(false);
    expect(compareTai64n(t, Uint8Array.from(t))).toBe(0);
  });

  it('compares byte by byte, the nanoseconds last', () => {
    const a = new Uint8Array(12);
    const b = new Uint8Array(12);
    a[11] = 1;
    expect(isAfter(a, b)).toBe(true);
    b[0] = 1;
    expect(isAfter(a, b)).toBe(false);
    expect(compareTai64n(a, b)).toBeLessThan(0);
  });

  it('refuses anything but 12 bytes', () => {
    expect(() => compareTai64n(new Uint8Array(11), new Uint8Array(12))).toThrow(RangeError);
    expect(() => isAfter(new Uint8Array(12), new Uint8Array(13))).toThrow(RangeError);
  });
});
