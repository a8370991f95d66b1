// ClientQueue (one client's flow queues) and flowHash, on a fake monotonic
// clock (ms): flows apart by 5-tuple, new flows first, exact bookkeeping
// through CoDel drops and clear(), and what the hash reads of a packet.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packet, tagOf, type PacketSpec } from '../../test/support/ip-packets.js';
import { ClientQueue, FLOWS_PER_CLIENT, flowHash } from './client-queue.js';

const SEED = 0x5eed;
const bulk = (tag: number, size = 1500): Uint8Array =>
  packet({ src: '203.0.113.10', dst: '198.51.100.2', proto: 'tcp', sport: 443, dport: 50000, size, tag });
const ping = (tag: number): Uint8Array =>
  packet({ src: '203.0.113.20', dst: '198.51.100.2', proto: 'icmp', size: 84, tag });

function queue(): ClientQueue<string> {
  return new ClientQueue('client', 1, null, SEED);
}

const bucketOf = (p: Uint8Array) => flowHash(p, SEED) % FLOWS_PER_CLIENT;

/** Pops until empty (or `max`), returning the tags. */
function drain(q: ClientQueue<string>, now: number, max = Infinity): number[] {
  const out: number[] = [];
  for (let p = q.pop(now); p !== null && out.length < max; p = out.length < max ? q.pop(now) : null) out.push(tagOf(p));
  return out;
}

describe('ClientQueue', () => {
  it('a ping behind a 1000-packet bulk flow of the same client comes out within two pops', () => {
    expect(bucketOf(ping(0))).not.toBe(bucketOf(bulk(0))); // the seed keeps them apart
    // The bulk flow has been sending (it is an old flow); a ping arrives
    const q = queue();
    for (let i = 0; i < 1000; i++) q.push(bulk(i), 0);
    expect(drain(q, 0, 5)).toEqual([0, 1, 2, 3, 4]);
    q.push(ping(9999), 0);
    expect(drain(q, 0, 2)).toContain(9999);
    // Ping and bulk queued together: the ping waits for at most the bulk flow's first quantum (two full packets)
    const r = queue();
    for (let i = 0; i < 1000; i++) r.push(bulk(i), 0);
    r.push(ping(9999), 0);
    expect(drain(r, 0, 3)).toEqual([0, 1, 9999]);
  });

  it('serves new flows first, and a new flow that keeps sending takes its turn with the old ones', () => {
    const q = queue();
    for (let i = 0; i < 100; i++) q.push(bulk(i), 0);
    drain(q, 0, 3); // the bulk flow is now old
    const udp = (tag: number) =>
      packet({ src: '198.51.100.5', dst: '198.51.100.2', proto: 'udp', sport: 53, dport: 40000, size: 1500, tag });
    expect(bucketOf(udp(0))).not.toBe(bucketOf(bulk(0)));
    for (let i = 1000; i < 1100; i++) q.push(udp(i), 0);
    const out = drain(q, 0, 100);
    // The new flow's quantum first (two full packets), then turns: the two flows share equally
    expect(out.slice(0, 2)).toEqual([1000, 1001]);
    const news = out.filter((t) => t >= 1000).length;
    expect(Math.abs(news - (out.length - news))).toBeLessThanOrEqual(2);
    // Each flow's own packets stay in order
    expect(out.filter((t) => t >= 1000)).toEqual([...Array(news).keys()].map((i) => 1000 + i));
    expect(out.filter((t) => t < 1000)).toEqual([...Array(out.length - news).keys()].map((i) => 3 + i));
  });

  it('separates flows by addresses, protocol and ports', () => {
    const base: PacketSpec = { src: '203.0.113.10', dst: '198.51.100.2', proto: 'tcp', sport: 443, dport: 50000 };
    const h = (s: Partial<PacketSpec>) => flowHash(packet({ ...base, ...s }), SEED);
    const all = [
      h({}),
      h({ src: '203.0.113.11' }),
      h({ dst: '198.51.100.3' }),
      h({ proto: 'udp' }),
      h({ sport: 444 }),
      h({ dport: 50001 }),
    ];
    expect(new Set(all).size).toBe(all.length);
    expect(h({ size: 1400, tag: 5 })).toBe(h({})); // length and payload are not part of the flow
  });

  it('keeps bytes, packets and drops exact through CoDel drops and clear()', () => {
    const q = queue();
    let pushed = 0;
    let popped = 0;
    // 8 flows, all of one size, two arrivals per ms and one departure per ms for 2 s: CoDel drops
    const SIZE = 1200;
    const flow = (i: number, tag: number) =>
      packet({ src: '203.0.113.10', dst: '198.51.100.2', proto: 'udp', sport: 1000 + i, size: SIZE, tag });
    for (let t = 0; t < 2000; t++) {
      q.push(flow(t % 8, t), t);
      q.push(flow((t + 3) % 8, t), t + 0.5);
      pushed += 2;
      if (q.pop(t + 0.75) !== null) popped++;
      expect(q.packets).toBe(pushed - popped - q.drops);
      expect(q.bytes).toBe(q.packets * SIZE);
    }
    expect(q.drops).toBeGreaterThan(0);
    const left = q.packets;
    expect(q.clear()).toBe(left);
    expect([q.packets, q.bytes]).toEqual([0, 0]);
    expect(q.pop(3000)).toBeNull();
    // Usable again, with mixed sizes and nothing dropped (no waiting)
    const sizes = [60, 1500, 576, 1280, 40];
    let bytes = 0;
    sizes.forEach((size, i) => {
      q.push(flow(i, i), 4000);
      const p = packet({ src: '203.0.113.10', dst: '198.51.100.2', proto: 'udp', sport: 2000 + i, size, tag: 100 + i });
      q.push(p, 4000);
      bytes += SIZE + size;
    });
    expect(q.bytes).toBe(bytes);
    expect(q.packets).toBe(10);
    const drops = q.drops;
    let out = 0;
    for (let p = q.pop(4000); p !== null; p = q.pop(4000)) {
      out++;
      bytes -= p.length;
      expect(q.bytes).toBe(bytes);
    }
    expect([out, q.packets, q.bytes, q.drops - drops]).toEqual([10, 0, 0, 0]);
  });
});

describe('flowHash', () => {
  it('ignores ports of IPv4 fragments (first with MF, and later ones with an offset)', () => {
    const frag = (sport: number, moreFragments: boolean, fragmentOffset: number) =>
      flowHash(
        packet({ src: '203.0.113.10', dst: '198.51.100.2', proto: 'udp', sport, moreFragments, fragmentOffset }),
        SEED,
      );
    expect(frag(1, true, 0)).toBe(frag(2, true, 0));
    expect(frag(1, false, 185)).toBe(frag(2, false, 185));
    expect(frag(1, true, 0)).toBe(frag(7, false, 185)); // all fragments of a datagram in one flow
    expect(frag(1, false, 0)).not.toBe(frag(2, false, 0)); // unfragmented: ports count
  });

  it('IPv6: addresses, flow label and ports', () => {
    const base: PacketSpec = { src: '2001:db8::10', dst: '2001:db8:1::2', proto: 'tcp', sport: 443, dport: 50000 };
    const h = (s: Partial<PacketSpec>) => flowHash(packet({ ...base, ...s }), SEED);
    expect(h({ flowLabel: 1 })).not.toBe(h({ flowLabel: 2 }));
    expect(h({ flowLabel: 0xabcde, size: 900 })).toBe(h({ flowLabel: 0xabcde }));
    expect(h({ sport: 1 })).not.toBe(h({ sport: 2 }));
    expect(h({ src: '2001:db8::11' })).not.toBe(h({}));
    expect(h({ dst: '2001:db8:1::3' })).not.toBe(h({}));
  });

  it('depends on the seed', () => {
    const p = bulk(0);
    expect(flowHash(p, 1)).not.toBe(flowHash(p, 2));
  });

  it('never throws, and returns an unsigned 32-bit number, for any bytes (short or malformed)', () => {
    const version = fc.constantFrom(0x40, 0x45, 0x4f, 0x41, 0x60, 0x00, 0xf0);
    fc.assert(
      fc.property(version, fc.uint8Array({ maxLength: 80 }), fc.nat(), (v, bytes, seed) => {
        const p = Uint8Array.from(bytes);
        if (p.length > 0) p[0] = v;
        const h = flowHash(p, seed);
        expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
      }),
    );
    for (const n of [0, 1, 19, 20, 39, 40, 41]) {
      expect(() => flowHash(new Uint8Array(n).fill(0x45), SEED)).not.toThrow();
      expect(() => flowHash(new Uint8Array(n).fill(0x6f), SEED)).not.toThrow();
    }
  });
});
