import { describe, expect, test } from 'vitest';
import { pooledRandom } from './random.js';

describe('pooledRandom', () => {
  test('returns fresh arrays of their own, of the asked length, and zeroes what it handed out', () => {
    const random = pooledRandom(64);
    const a = random(16);
    const b = random(16);
    expect(a.length).toBe(16);
    expect(a.buffer).not.toBe(b.buffer);
    expect(a.buffer.byteLength).toBe(16);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    a.fill(0); // the caller may wipe it: nothing else changes
    expect(b.some((x) => x !== 0)).toBe(true);
  });

  test('refills when the pool runs out, bypasses it for large requests, refuses bad lengths', () => {
    const random = pooledRandom(64);
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) seen.add(Buffer.from(random(12)).toString('hex'));
    expect(seen.size).toBe(100);
    expect(random(17).length).toBe(17); // > 64 / 4
    expect(random(0).length).toBe(0);
    expect(() => random(-1)).toThrow(RangeError);
    expect(() => random(1.5)).toThrow(RangeError);
  });

  test('bytes look uniform (a coarse check that the pool is really filled)', () => {
    const random = pooledRandom();
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 4000; i++) for (const x of random(32)) counts[x]!++;
    const mean = (4000 * 32) / 256;
    for (const c of counts) expect(Math.abs(c - mean)).toBeLessThan(mean * 0.3);
  });
});
