// DirectionScheduler on a fake monotonic clock (ms): fair and weighted shares
// of a link, per-client rate limits with the rest going to the others, queue
// bounds, nextRelease and drain(). Saturating clients offer more than their
// share every millisecond; release() runs every millisecond.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packet } from '../../test/support/ip-packets.js';
import { ClientQueue } from './client-queue.js';
import { CLIENT_QUEUE_LIMIT, DirectionScheduler, TOTAL_QUEUE_LIMIT } from './scheduler.js';
import { TokenBucket } from './token-bucket.js';

const SECOND = 1000;
const linkBurst = (bps: number) => Math.max((bps / 8000) * 4, 16 * 1514);
/** A scheduler for a link of `bps`, its bucket full at t = 0. */
const link = (bps: number) => new DirectionScheduler<string>(new TokenBucket(bps, linkBurst(bps), 0));

/** A client of the simulation: its queue, the packets it offers each ms, the bytes it got through. */
interface SimClient {
  q: ClientQueue<string>;
  /** Packets offered every ms (one per flow, `perFlow` times). */
  flows: Uint8Array[];
  perFlow: number;
  /** Bytes sent (submit said "now", or release emitted) in the measuring window. */
  got: number;
}

function client(
  name: string,
  flows: number,
  opts: { weight?: number; bucket?: TokenBucket; perFlow?: number; size?: number } = {},
): SimClient {
  const size = opts.size ?? 1500;
  return {
    q: new ClientQueue(name, opts.weight ?? 1, opts.bucket ?? null, name.charCodeAt(0)),
    flows: [...Array(flows).keys()].map((i) =>
      packet({ src: '203.0.113.10', dst: '198.51.100.2', proto: 'tcp', sport: 443, dport: 40000 + i, size }),
    ),
    perFlow: opts.perFlow ?? 1,
    got: 0,
  };
}

/** Runs [from, to) in 1 ms steps; bytes sent from `measureFrom` on are added to each client's `got`. */
function run(s: DirectionScheduler<string>, clients: SimClient[], from: number, to: number, measureFrom = from): void {
  const byQueue = new Map(clients.map((c) => [c.q, c]));
  for (let t = from; t < to; t++) {
    const counting = t >= measureFrom;
    for (const c of clients) {
      for (let k = 0; k < c.perFlow; k++) {
        for (const p of c.flows) if (s.submit(c.q, p, t) && counting) c.got += p.length;
      }
    }
    s.release(t, (q, p) => {
      if (counting) byQueue.get(q as ClientQueue<string>)!.got += p.length;
    });
  }
}

const bps = (bytes: number, ms: number) => (bytes * 8 * SECOND) / ms;
/** The relative error of `got` against `want`. */
const offBy = (got: number, want: number) => Math.abs(got - want) / want;
const jain = (xs: number[]) => xs.reduce((a, b) => a + b, 0) ** 2 / (xs.length * xs.reduce((a, b) => a + b * b, 0));

describe('DirectionScheduler', () => {
  it('splits the link equally between a client with 16 flows and one with 1 (Jain >= 0.99)', () => {
    const X = 10_000_000;
    const a = client('A', 16);
    const b = client('B', 1, { perFlow: 2 });
    run(link(X), [a, b], 0, 10 * SECOND);
    for (const c of [a, b]) expect(offBy(bps(c.got, 10 * SECOND), X / 2)).toBeLessThan(0.02);
    expect(jain([a.got, b.got])).toBeGreaterThanOrEqual(0.99);
    // Work-conserving: the link was used at its rate (plus its initial burst)
    expect(offBy(bps(a.got + b.got - linkBurst(X), 10 * SECOND), X)).toBeLessThan(0.01);
  });

  it('shares by weight: 1:3 gives 1:3 within 3 %', () => {
    const X = 20_000_000;
    const a = client('A', 4);
    const b = client('B', 4, { weight: 3 });
    run(link(X), [a, b], 0, 10 * SECOND);
    expect(offBy(b.got / a.got, 3)).toBeLessThan(0.03);
  });

  it('gives a rate-limited client its rate within 1 %, and the rest of the link to the others', () => {
    const X = 10_000_000;
    const LIMIT = 2_000_000;
    const limited = client('C', 4, { bucket: new TokenBucket(LIMIT, 16_384, 0) });
    const free = client('D', 2);
    run(link(X), [limited, free], 0, 11 * SECOND, SECOND); // measured over 10 s after the first
    expect(offBy(bps(limited.got, 10 * SECOND), LIMIT)).toBeLessThan(0.01);
    expect(offBy(bps(free.got, 10 * SECOND), X - LIMIT)).toBeLessThan(0.01);
  });

  it('without a link capacity, only the clients own limits apply', () => {
    const limited = client('C', 2, { bucket: new TokenBucket(5_000_000, 16_384, 0) });
    const free = client('D', 2);
    run(new DirectionScheduler<string>(null), [limited, free], 0, 11 * SECOND, SECOND);
    expect(offBy(bps(limited.got, 10 * SECOND), 5_000_000)).toBeLessThan(0.01);
    expect(free.got).toBe(10 * SECOND * 2 * 1500); // everything it offered, at once
    expect(free.q.packets).toBe(0);
  });

  it('bounds each client queue and the sum of all queues, dropping and counting the rest', () => {
    const stalled = () => new TokenBucket(8000, 0, 0); // never ready within the test
    // One client: stops at CLIENT_QUEUE_LIMIT
    const s = new DirectionScheduler<string>(stalled());
    const c = client('A', 1);
    const fits = Math.floor(CLIENT_QUEUE_LIMIT / 1500);
    for (let i = 0; i < fits + 10; i++) expect(s.submit(c.q, c.flows[0]!, 0)).toBe(false);
    expect([c.q.packets, c.q.bytes, c.q.drops, s.overflows, s.bytes]).toEqual([fits, fits * 1500, 10, 10, fits * 1500]);
    // Many clients with 60 000-byte packets: the total bound stops them
    const t = new DirectionScheduler<string>(stalled());
    const many = [...Array(40).keys()].map((i) => client(String.fromCharCode(65 + i), 1, { size: 60_000 }));
    let offered = 0;
    for (const m of many) {
      for (let i = 0; i < 40; i++, offered++) t.submit(m.q, m.flows[0]!, 0);
      expect(m.q.bytes).toBeLessThanOrEqual(CLIENT_QUEUE_LIMIT);
    }
    const queued = many.reduce((n, m) => n + m.q.packets, 0);
    expect(t.bytes).toBe(queued * 60_000);
    expect(t.bytes).toBeLessThanOrEqual(TOTAL_QUEUE_LIMIT);
    expect(t.bytes).toBeGreaterThan(TOTAL_QUEUE_LIMIT - 60_000);
    expect(t.overflows).toBe(offered - queued);
    expect(many.reduce((n, m) => n + m.q.drops, 0)).toBe(t.overflows);
    expect(many.at(-1)!.q.packets).toBe(0); // nothing left for the last clients
  });

  it('nextRelease is never in the past while packets wait, Infinity once all is sent, and waking at it never stalls', () => {
    const op = fc.record({
      client: fc.integer({ min: 0, max: 3 }),
      size: fc.integer({ min: 40, max: 1500 }),
      count: fc.integer({ min: 0, max: 30 }),
      dt: fc.double({ min: 0, max: 20, noNaN: true }),
      release: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 8000, max: 100_000_000 })),
        fc.array(fc.option(fc.integer({ min: 8000, max: 50_000_000 })), { minLength: 4, maxLength: 4 }),
        fc.array(op, { maxLength: 40 }),
        (linkRate, rates, ops) => {
          let now = 0;
          const s = new DirectionScheduler<string>(linkRate === null ? null : new TokenBucket(linkRate, 3000, now));
          const qs = rates.map(
            (r, i) => new ClientQueue(String(i), 1 + i, r === null ? null : new TokenBucket(r, 2000, now), i),
          );
          let queued = 0;
          let out = 0;
          const emit = () => out++;
          const waiting = () => qs.reduce((n, q) => n + q.packets, 0);
          const check = () => {
            const at = s.nextRelease(now);
            if (waiting() > 0) {
              expect(at).toBeGreaterThanOrEqual(now);
              expect(at).toBeLessThan(Infinity);
            } else {
              expect(at).toBe(Infinity);
            }
          };
          for (const o of ops) {
            now += o.dt;
            const p = packet({ src: '203.0.113.1', dst: '198.51.100.2', sport: o.size, size: o.size });
            for (let i = 0; i < o.count; i++) if (!s.submit(qs[o.client]!, p, now)) queued++;
            if (o.release) {
              s.release(now, emit);
              check();
            }
          }
          // Waking at each nextRelease sends everything queued (or CoDel drops it), then says Infinity
          s.release(now, emit);
          for (let rounds = 0; ; rounds++) {
            check();
            const at = s.nextRelease(now);
            if (at === Infinity) break;
            expect(rounds).toBeLessThan(100_000);
            now = Math.max(now, at);
            s.release(now, emit);
          }
          const dropped = qs.reduce((n, q) => n + q.drops, 0);
          expect(waiting()).toBe(0);
          expect(s.bytes).toBe(0);
          expect(out + dropped).toBe(queued);
        },
      ),
    );
  });

  it('nextRelease is Infinity when idle: right after the last packet went, and after drain()', () => {
    const X = 1_200_000; // 150 bytes/ms
    // The last packet empties the link bucket
    const s = new DirectionScheduler<string>(new TokenBucket(X, 1500, 0));
    const a = client('A', 1);
    expect(s.submit(a.q, a.flows[0]!, 0)).toBe(true); // the burst: straight through
    expect(s.submit(a.q, a.flows[0]!, 0)).toBe(false);
    const at = s.nextRelease(0);
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThan(1);
    let sent = 0;
    s.release(at, () => sent++);
    expect(sent).toBe(1);
    expect([a.q.packets, s.bytes]).toEqual([0, 0]);
    expect(s.nextRelease(at)).toBe(Infinity);
    // A client asleep on its own bucket, drained: nothing left to wake for
    const t = new DirectionScheduler<string>(null);
    const b = client('B', 1, { bucket: new TokenBucket(800_000, 1500, 0) }); // 100 bytes/ms
    expect(t.submit(b.q, b.flows[0]!, 0)).toBe(true);
    expect(t.submit(b.q, b.flows[0]!, 0)).toBe(false);
    t.release(0, () => expect.unreachable());
    expect(b.q.where).toBe('sleeping');
    expect(t.nextRelease(0)).toBeGreaterThan(0);
    expect(t.drain(b.q)).toBe(1);
    expect(t.nextRelease(1)).toBe(Infinity);
  });

  it('drain() removes a client wherever it is (round robin, asleep, idle) and keeps the others going', () => {
    const X = 8_000_000; // 1000 bytes/ms
    const s = new DirectionScheduler<string>(new TokenBucket(X, 1000, 0));
    const inRing = client('R', 2);
    const asleep = client('S', 1, { bucket: new TokenBucket(80_000, 1500, 0) }); // 10 bytes/ms
    const idle = client('I', 1);
    const other = client('O', 1);
    expect(s.submit(asleep.q, asleep.flows[0]!, 0)).toBe(true); // empties S's bucket and the link
    for (let i = 0; i < 20; i++) {
      s.submit(inRing.q, inRing.flows[i % 2]!, 0);
      s.submit(other.q, other.flows[0]!, 0);
      s.submit(asleep.q, asleep.flows[0]!, 0);
    }
    let otherOut = 0;
    const emit = (q: ClientQueue<string>) => {
      if (q.owner === 'O') otherOut++;
    };
    let t = 1;
    for (; asleep.q.where !== 'sleeping'; t++) s.release(t, emit);
    expect(inRing.q.where).toBe('ring');
    const before = s.bytes;
    const [r, z] = [inRing.q.packets, asleep.q.packets];
    expect(r).toBeGreaterThan(0);
    expect(s.drain(inRing.q)).toBe(r);
    expect(s.drain(asleep.q)).toBe(z);
    expect(s.drain(idle.q)).toBe(0);
    for (const q of [inRing.q, asleep.q, idle.q]) expect([q.where, q.packets, q.bytes]).toEqual(['idle', 0, 0]);
    expect(s.bytes).toBe(before - (r + z) * 1500);
    // Only O's packets come out from now on, all of them
    for (const end = t + 100; t < end; t++) {
      s.release(t, (q) => {
        expect(q.owner).toBe('O');
        otherOut++;
      });
    }
    expect(otherOut).toBe(20);
    expect(s.bytes).toBe(0);
    expect(s.nextRelease(t)).toBe(Infinity);
  });
});
