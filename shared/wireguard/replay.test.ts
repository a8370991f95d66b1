import { describe, expect, it } from 'vitest';
import { REJECT_AFTER_MESSAGES, REPLAY_WINDOW_SIZE } from './constants.js';
import { MAX_COUNTER, ReplayWindow } from './replay.js';

describe('ReplayWindow: hand cases', () => {
  it('has a default window of at least 2,048 counters', () => {
    const w = new ReplayWindow();
    expect(w.windowSize).toBe(REPLAY_WINDOW_SIZE);
    expect(w.windowSize).toBeGreaterThanOrEqual(2048);
  });

  it('accepts counters in order, each once', () => {
    const w = new ReplayWindow();
    for (let i = 0; i < 20_000; i++) expect(w.accept(i)).toBe(true);
    for (let i = 19_990; i < 20_000; i++) expect(w.accept(i)).toBe(false);
  });

  it('accepts reordering within the window and rejects duplicates', () => {
    const w = new ReplayWindow();
    expect(w.accept(10)).toBe(true);
    expect(w.accept(7)).toBe(true);
    expect(w.accept(0)).toBe(true);
    expect(w.accept(9)).toBe(true);
    expect(w.accept(7)).toBe(false);
    expect(w.accept(10)).toBe(false);
    expect(w.accept(0)).toBe(false);
    expect(w.accept(8)).toBe(true);
    expect(w.accept(5000)).toBe(true);
    expect(w.accept(11)).toBe(true);
    expect(w.accept(11)).toBe(false);
  });

  it('draws the window edge exactly: highest - counter < windowSize', () => {
    const w = new ReplayWindow();
    const size = w.windowSize;
    expect(w.accept(100_000)).toBe(true);
    expect(w.accept(100_000 - size)).toBe(false); // just outside
    expect(w.accept(100_000 - size + 1)).toBe(true); // the oldest one inside
    expect(w.accept(100_000 - size + 1)).toBe(false);
    expect(w.accept(100_000 - 1)).toBe(true);
    // Moving the top by one pushes the oldest slot out.
    expect(w.accept(100_001)).toBe(true);
    expect(w.accept(100_001 - size)).toBe(false);
    expect(w.accept(100_001 - size + 1)).toBe(true);
  });

  it('honours the edge for small and odd window sizes', () => {
    for (const size of [1, 2, 31, 32, 33, 64, 100, 2048]) {
      const w = new ReplayWindow(size);
      const top = 10_000;
      expect(w.accept(top)).toBe(true);
      expect(w.accept(top - size), `size ${size}`).toBe(false);
      if (size > 1) expect(w.accept(top - size + 1), `size ${size}`).toBe(true);
      expect(w.accept(top)).toBe(false);
    }
  });

  it('rejects everything too old after a huge jump, and keeps working above it', () => {
    const w = new ReplayWindow(8128); // a ring of exactly 8192 bits
    for (let i = 0; i < 100; i++) expect(w.accept(i)).toBe(true);
    const far = 1_000_000_000_000;
    expect(w.accept(far)).toBe(true);
    for (let i = 0; i < 100; i++) expect(w.accept(i)).toBe(false);
    expect(w.accept(far - 1)).toBe(true);
    expect(w.accept(far - 1)).toBe(false);
    expect(w.accept(far - 8000)).toBe(true);
    // The bits of the counters far below must not survive in the ring: a
    // counter that lands on the same ring slot as an old one is still new.
    const ringBits = 8192;
    expect(w.accept(far + ringBits)).toBe(true);
    expect(w.accept(far + ringBits - 1)).toBe(true);
    expect(w.accept(far + 2 * ringBits - 1)).toBe(true);
    expect(w.accept(far + ringBits - 1 + ringBits - 1)).toBe(true);
  });

  it('works across the 2^32 boundary', () => {
    const w = new ReplayWindow(64);
    const base = 2 ** 32 - 40;
    const order = [0, 2, 1, 39, 40, 41, 38, 80, 50, 17, 103, 104, 45];
    for (const d of order) expect(w.accept(base + d), `+${d}`).toBe(true);
    for (const d of [0, 2, 1, 39, 17]) expect(w.accept(base + d), `old +${d}`).toBe(false);
    for (const d of [40, 41, 80, 50, 103]) expect(w.accept(base + d), `dup +${d}`).toBe(false);
    expect(w.accept(base + 42)).toBe(true);
  });

  it('rejects counters outside what a counter can be', () => {
    const w = new ReplayWindow();
    for (const bad of [
      -1,
      0.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      MAX_COUNTER + 1,
      2 ** 64,
      REJECT_AFTER_MESSAGES,
    ]) {
      expect(w.accept(bad), String(bad)).toBe(false);
    }
    // The largest exact counter still works (the implementation limit).
    expect(w.accept(MAX_COUNTER)).toBe(true);
    expect(w.accept(MAX_COUNTER)).toBe(false);
    expect(w.accept(MAX_COUNTER - 1)).toBe(true);
  });

  it('forgets everything on reset()', () => {
    const w = new ReplayWindow();
    expect(w.accept(0)).toBe(true);
    expect(w.accept(50_000)).toBe(true);
    w.reset();
    expect(w.accept(0)).toBe(true);
    expect(w.accept(1)).toBe(true);
    expect(w.accept(50_000)).toBe(true);
  });

  it('refuses a nonsensical window size', () => {
    expect(() => new ReplayWindow(0)).toThrow(RangeError);
    expect(() => new ReplayWindow(1.5)).toThrow(RangeError);
    expect(() => new ReplayWindow(2 ** 40)).toThrow(RangeError);
  });
});

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

/** The obvious implementation: remember every counter, and the highest. */
class ReferenceWindow {
  private seen = new Set<number>();
  private highest = 0;
  constructor(private readonly size: number) {}
  accept(counter: number): boolean {
    if (!Number.isSafeInteger(counter) || counter < 0) return false;
    if (counter <= this.highest && this.highest - counter >= this.size) return false;
    if (this.seen.has(counter)) return false;
    this.seen.add(counter);
    if (counter > this.highest) this.highest = counter;
    return true;
  }
  get top(): number {
    return this.highest;
  }
}

describe('ReplayWindow: randomized against a slow reference', () => {
  for (const [seed, size] of [
    [1, REPLAY_WINDOW_SIZE],
    [7, 8128],
    [2, 2048],
    [3, 64],
    [4, 33],
    [5, 1],
    [6, 100],
  ] as const) {
    it(`agrees on random sequences (seed ${seed}, window ${size})`, () => {
      const rand = prng(seed);
      const fast = new ReplayWindow(size);
      // Start anywhere, including just below 2^32 and near the top of the range.
      const starts = [0, 2 ** 32 - 3 * size, MAX_COUNTER - 200_000];
      let recent: number[] = [];
      for (const start of starts) {
        fast.reset();
        const slow = new ReferenceWindow(size);
        recent = [];
        if (start > 0) {
          expect(fast.accept(start)).toBe(slow.accept(start));
        }
        for (let step = 0; step < 20_000; step++) {
          const r = rand();
          const top = slow.top;
          let counter: number;
          if (r < 0.4)
            counter = top + 1 + Math.floor(rand() * 3); // mostly in order
          else if (r < 0.75)
            counter = top - Math.floor(rand() * size * 1.3); // reordered, some too old
          else if (r < 0.9)
            counter = recent.length > 0 ? recent[Math.floor(rand() * recent.length)]! : top; // duplicate
          else if (r < 0.97)
            counter = top + Math.floor(rand() * size * 3); // a jump, sometimes past the ring
          else counter = top + Math.floor(rand() * 1e9); // a huge jump
          if (counter > MAX_COUNTER) counter = MAX_COUNTER - Math.floor(rand() * 10);
          const want = slow.accept(counter);
          const got = fast.accept(counter);
          if (got !== want) {
            throw new Error(
              `seed ${seed} window ${size} start ${start} step ${step}: accept(${counter}) gave ${got}, want ${want} (top ${top})`,
            );
          }
          if (want) {
            recent.push(counter);
            if (recent.length > 64) recent = recent.slice(-32);
          }
        }
      }
    });
  }
});

describe.skipIf(!process.env['MESHGATE_BENCH'])('ReplayWindow: speed (set MESHGATE_BENCH=1)', () => {
  it('mostly in-order counters', () => {
    const w = new ReplayWindow();
    const n = 10_000_000;
    let accepted = 0;
    const start = performance.now();
    for (let i = 0; i < n; i++) if (w.accept(i ^ 3)) accepted++;
    const seconds = (performance.now() - start) / 1000;
    console.log(`${(n / seconds / 1e6).toFixed(1)} M accept/s (${accepted} accepted)`);
  });
});
