import fc from 'fast-check';
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

/** Where a property run starts: at 0, just below 2^32, and near the top of the range. */
const startsFor = (size: number) => [0, 2 ** 32 - 3 * size, MAX_COUNTER - 200_000];

/**
 * One received counter, relative to the reference's highest (`top`): mostly in
 * order, reordered (some too old), a duplicate of a recent accepted one, a jump
 * (sometimes past the ring) or a huge jump; past MAX_COUNTER it lands in the
 * last ten counters.
 */
type Step =
  | { kind: 'next'; d: number; clamp: number }
  | { kind: 'back'; d: number; clamp: number }
  | { kind: 'dup'; i: number; clamp: number }
  | { kind: 'jump'; d: number; clamp: number }
  | { kind: 'huge'; d: number; clamp: number };

function stepArb(size: number): fc.Arbitrary<Step> {
  const clamp = fc.integer({ min: 0, max: 9 });
  const rel = <K extends Step['kind']>(kind: K, max: number, min = 0) =>
    fc.record({ kind: fc.constant(kind), d: fc.integer({ min, max }), clamp });
  return fc.oneof(
    { weight: 40, arbitrary: rel('next', 3, 1) },
    { weight: 35, arbitrary: rel('back', Math.floor(size * 1.3)) },
    { weight: 15, arbitrary: fc.record({ kind: fc.constant('dup' as const), i: fc.nat(), clamp }) },
    { weight: 7, arbitrary: rel('jump', size * 3) },
    { weight: 3, arbitrary: rel('huge', 1e9) },
  );
}

function counterOf(step: Step, top: number, recent: readonly number[]): number {
  let counter: number;
  if (step.kind === 'next' || step.kind === 'jump' || step.kind === 'huge') counter = top + step.d;
  else if (step.kind === 'back') counter = top - step.d;
  else counter = recent.length > 0 ? recent[step.i % recent.length]! : top;
  return counter > MAX_COUNTER ? MAX_COUNTER - step.clamp : counter;
}

describe('ReplayWindow: property against a slow reference (fast-check, shrinking)', () => {
  for (const size of [REPLAY_WINDOW_SIZE, 8128, 2048, 64, 33, 1, 100]) {
    it(`agrees on random sequences (window ${size})`, () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...startsFor(size)),
          fc.array(stepArb(size), { maxLength: 2000, size: 'max' }),
          (start, steps) => {
            const fast = new ReplayWindow(size);
            const slow = new ReferenceWindow(size);
            let recent: number[] = [];
            if (start > 0) expect(fast.accept(start)).toBe(slow.accept(start));
            for (const [n, step] of steps.entries()) {
              const top = slow.top;
              const counter = counterOf(step, top, recent);
              const want = slow.accept(counter);
              expect(fast.accept(counter), `step ${n}: accept(${counter}) (top ${top})`).toBe(want);
              if (want) {
                recent.push(counter);
                if (recent.length > 64) recent = recent.slice(-32);
              }
            }
          },
        ),
        { numRuns: 60 },
      );
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
