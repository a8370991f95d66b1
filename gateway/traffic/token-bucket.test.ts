// TokenBucket on a fake monotonic clock (plain numbers in ms): the long-run
// rate, the burst, the start level, readyAt and set().

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.js';

/** Sends `size`-byte packets whenever the bucket allows, at each step of `steps`; returns bytes sent. */
function saturate(b: TokenBucket, size: number, times: Iterable<number>): number {
  let sent = 0;
  for (const t of times) {
    while (b.ready(t)) {
      b.take(size);
      sent += size;
    }
  }
  return sent;
}

function* every(step: number, from: number, to: number): Generator<number> {
  for (let i = 0; from + i * step <= to; i++) yield from + i * step;
}

describe('TokenBucket', () => {
  it('starts full and never lets more than one packet past an empty bucket', () => {
    const b = new TokenBucket(8_000_000, 10_000, 0);
    expect(b.bitsPerSecond).toBe(8_000_000);
    expect(saturate(b, 1000, [0])).toBe(10_000);
    const c = new TokenBucket(8_000_000, 10_000, 0);
    expect(saturate(c, 1500, [0])).toBe(10_500); // the last packet dips below zero, once
  });

  it('caps the level at the burst however long it was idle', () => {
    const b = new TokenBucket(1_000_000, 16_384, 0);
    saturate(b, 1000, [0]);
    const sent = saturate(b, 1000, [3_600_000]); // an hour idle
    expect(sent).toBeGreaterThanOrEqual(16_384);
    expect(sent).toBeLessThan(16_384 + 1000);
  });

  const rates = [128_000, 1_000_000, 20_000_000, 100_000_000];
  const sizes = [64, 576, 1500];
  for (const rate of rates) {
    for (const size of sizes) {
      it(`holds ${rate} bit/s within 1 % over 10 s with ${size}-byte packets`, () => {
        const burst = Math.max(rate / 80, 16_384);
        // 1 ms steps, and irregular steps (0.1 .. 2.9 ms) that do not divide packet times
        for (const times of [every(1, 0, 10_000), irregular(10_000)]) {
          const b = new TokenBucket(rate, burst, 0);
          const sent = saturate(b, size, times) - burst;
          const measured = (sent * 8) / 10;
          expect(Math.abs(measured - rate) / rate).toBeLessThan(0.01);
        }
      });
    }
  }

  it('readyAt is the first instant ready() says yes, to within 1 ms', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 8000, max: 1_000_000_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.array(fc.integer({ min: 1, max: 65_535 }), { minLength: 1, maxLength: 20 }),
        fc.double({ min: 0, max: 50, noNaN: true }),
        (rate, burst, takes, later) => {
          // Three identical buckets: one asked readyAt, one probed at it, one probed 1 ms before
          const make = () => {
            const b = new TokenBucket(rate, burst, 1000);
            for (const n of takes) b.take(n);
            return b;
          };
          const now = 1000 + later;
          const at = make().readyAt(now);
          expect(at).toBeGreaterThanOrEqual(now);
          expect(make().ready(at)).toBe(true);
          if (at - 1 > now) expect(make().ready(at - 1)).toBe(false);
          if (at > now) expect(make().ready(now)).toBe(false);
          else expect(make().ready(now)).toBe(true);
        },
      ),
    );
  });

  it('set() changes the rate from now on, keeps the level and caps it at the new burst', () => {
    const b = new TokenBucket(8_000_000, 10_000, 0); // 1000 bytes/ms
    expect(saturate(b, 1000, [0])).toBe(10_000);
    b.set(800_000, 10_000, 5); // 5 ms at the old rate: 5000 bytes, kept
    expect(saturate(b, 1000, [5])).toBe(5000);
    expect(b.bitsPerSecond).toBe(800_000);
    expect(b.readyAt(5)).toBeCloseTo(5 + 1 / 100, 9); // 100 bytes/ms now
    expect(saturate(b, 1000, [15])).toBe(1000);

    const c = new TokenBucket(8_000_000, 10_000, 0);
    c.set(8_000_000, 2000, 0); // full bucket, smaller burst: capped
    expect(saturate(c, 1000, [0])).toBe(2000);
    c.set(8_000_000, 50_000, 0); // a larger burst does not add tokens
    expect(c.ready(0)).toBe(false);
    expect(saturate(c, 1000, [1000])).toBe(50_000);
  });
});

/** Times 0 .. end in steps of 0.1 .. 2.9 ms (a fixed irregular pattern). */
function* irregular(end: number): Generator<number> {
  let t = 0;
  for (let i = 0; t <= end; i++) {
    yield t;
    t += 0.1 + ((i * 7) % 29) / 10;
  }
}
