// CodelQueue on a fake monotonic clock (ms): when CoDel (RFC 8289) drops, how
// often, when it stops, the one-MTU exemption, and the ring's FIFO order.
// Each test packet carries a sequence number, so a test knows which packets
// were dropped (the ones skipped between two pops) and how long they waited.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CODEL_INTERVAL_MS, CODEL_MAX_PACKET, CODEL_TARGET_MS, CodelQueue } from './codel.js';

function pkt(seq: number, size = 1500): Uint8Array {
  const p = new Uint8Array(size);
  new DataView(p.buffer).setUint32(0, seq);
  return p;
}

function seqOf(p: Uint8Array): number {
  return new DataView(p.buffer, p.byteOffset).getUint32(0);
}

/** A queue with a record of arrivals, pops and drops (when, and how long the dropped packets had waited). */
class Recorder {
  readonly q = new CodelQueue();
  private seq = 0;
  private next = 0; // the oldest sequence number not yet popped or dropped
  readonly arrival: number[] = [];
  readonly drops: { at: number; sojourn: number }[] = [];
  /** Sojourn of each packet popped, with its time. */
  readonly popped: { at: number; sojourn: number }[] = [];

  push(now: number, size = 1500): void {
    this.arrival.push(now);
    this.q.push(pkt(this.seq++, size), now);
  }

  pop(now: number): Uint8Array | null {
    const before = this.q.drops;
    const p = this.q.pop(now);
    const end = p === null ? this.seq : seqOf(p);
    // FIFO: everything before the packet returned was dropped by this pop
    for (; this.next < end; this.next++) this.drops.push({ at: now, sojourn: now - this.arrival[this.next]! });
    if (p !== null) {
      this.popped.push({ at: now, sojourn: now - this.arrival[end]! });
      this.next = end + 1;
    }
    expect(this.q.drops - before).toBe(this.drops.filter((d) => d.at === now).length);
    return p;
  }
}

/** Two arrivals per ms, one departure per ms, from `from` to `to` (ms). */
function overload(r: Recorder, from: number, to: number): void {
  for (let t = from; t < to; t++) {
    r.push(t);
    r.push(t + 0.5);
    r.pop(t + 0.75);
  }
}

describe('CodelQueue', () => {
  it('never drops while packets wait less than the target (5 ms)', () => {
    const r = new Recorder();
    // A standing queue of four full packets, each popped after 4.99 ms, for 10 s
    for (let t = 0; t < 10_000; t++) {
      r.push(t);
      if (t >= 4) r.pop(t + 0.99);
    }
    expect(r.q.drops).toBe(0);
    expect(r.popped.length).toBe(10_000 - 4);
    expect(Math.max(...r.popped.map((p) => p.sojourn))).toBeLessThan(CODEL_TARGET_MS);
  });

  it('starts dropping once the delay stayed above the target for an interval, then every interval/sqrt(count)', () => {
    const r = new Recorder();
    overload(r, 0, 3000);
    expect(r.drops.length).toBeGreaterThan(100);
    // Every drop was of a packet that waited at least the target
    for (const d of r.drops) expect(d.sojourn).toBeGreaterThanOrEqual(CODEL_TARGET_MS);
    // The first drop: one interval after the first pop above the target, at the next pop
    const above = r.popped.find((p) => p.sojourn >= CODEL_TARGET_MS)!.at;
    const first = r.drops[0]!.at;
    expect(first).toBeGreaterThanOrEqual(above + CODEL_INTERVAL_MS);
    expect(first).toBeLessThan(above + CODEL_INTERVAL_MS + 1 + 1e-9);
    // Then the control law: drop n comes at the first pop at or after
    // next(n-1) = next(n-2) + INTERVAL/sqrt(n-1), with next(1) = first + INTERVAL
    let next = first + CODEL_INTERVAL_MS;
    for (let n = 2; n <= r.drops.length; n++) {
      const at = r.drops[n - 1]!.at;
      expect(at).toBeGreaterThanOrEqual(next - 1e-9);
      expect(at).toBeLessThan(next + 1); // pops come every 1 ms
      next += CODEL_INTERVAL_MS / Math.sqrt(n);
    }
  });

  it('stops dropping once the delay is back below the target, and waits a whole interval before dropping again', () => {
    const r = new Recorder();
    overload(r, 0, 1000);
    const dropsInOverload = r.drops.length;
    expect(dropsInOverload).toBeGreaterThan(0);
    // Light load: one arrival per ms, up to two departures per ms: the backlog drains
    for (let t = 1000; t < 4000; t++) {
      r.push(t);
      r.pop(t + 0.25);
      r.pop(t + 0.5);
    }
    const low = r.popped.find((p) => p.at >= 1000 && p.sojourn < CODEL_TARGET_MS)!.at;
    expect(r.drops.filter((d) => d.at > low)).toEqual([]);
    expect(r.q.length).toBe(0);
    // Overload again: no drop within the first interval above the target
    const start = r.popped.length;
    overload(r, 4000, 5000);
    const above = r.popped.slice(start).find((p) => p.sojourn >= CODEL_TARGET_MS)!.at;
    const again = r.drops.filter((d) => d.at >= 4000);
    expect(again.length).toBeGreaterThan(0);
    expect(again[0]!.at).toBeGreaterThanOrEqual(above + CODEL_INTERVAL_MS);
  });

  it('never drops while the queue holds no more than one MTU after the dequeue', () => {
    // One full packet at a time, each waiting 199 ms
    const one = new Recorder();
    for (let i = 0; i < 50; i++) {
      one.push(200 * i);
      one.pop(200 * i + 199);
    }
    expect(one.q.drops).toBe(0);
    // 16 packets of 100 bytes standing (1500 bytes left after each dequeue), each waiting 15 ms, for 10 s
    const standing = (n: number) => {
      const r = new Recorder();
      for (let t = 0; t < 10_000; t++) {
        r.push(t, 100);
        if (t >= n - 1) r.pop(t + 0.5);
      }
      return r;
    };
    const at = standing(16);
    expect(at.q.bytes + 100).toBe(16 * 100); // before the next pop: 1600, after it: 1500
    expect(at.q.drops).toBe(0);
    // One packet more (1600 bytes left after each dequeue): CoDel drops
    expect(CODEL_MAX_PACKET).toBe(1500);
    expect(standing(17).q.drops).toBeGreaterThan(0);
  });

  it('clear() empties the queue and reports how many packets it held', () => {
    const r = new Recorder();
    for (let i = 0; i < 40; i++) r.push(0, 100 + i);
    expect(r.q.length).toBe(40);
    expect(r.q.clear()).toBe(40);
    expect(r.q.length).toBe(0);
    expect(r.q.bytes).toBe(0);
    expect(r.q.pop(1)).toBeNull();
    r.q.push(pkt(7, 60), 2);
    expect(seqOf(r.q.pop(2)!)).toBe(7);
  });

  it('keeps FIFO order and exact byte counts through ring growth (no drops: no waiting)', () => {
    const op = fc.oneof(
      fc.record({ push: fc.integer({ min: 1, max: 9000 }), times: fc.integer({ min: 1, max: 70 }) }),
      fc.record({ pop: fc.integer({ min: 1, max: 70 }) }),
      fc.constant('clear' as const),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.double({ min: 0, max: 1e9, noNaN: true }), (ops, now) => {
        const q = new CodelQueue();
        const model: Uint8Array[] = [];
        let seq = 0;
        for (const o of ops) {
          if (o === 'clear') {
            expect(q.clear()).toBe(model.length);
            model.length = 0;
          } else if ('push' in o) {
            for (let i = 0; i < o.times; i++) {
              const p = pkt(seq++, 4 + ((o.push + i) % 9000));
              q.push(p, now);
              model.push(p);
            }
          } else {
            for (let i = 0; i < o.pop; i++) expect(q.pop(now)).toBe(model.shift() ?? null);
          }
          expect(q.length).toBe(model.length);
          expect(q.bytes).toBe(model.reduce((s, p) => s + p.length, 0));
        }
        expect(q.drops).toBe(0);
      }),
    );
  });
});
