// TrafficControl with fake peers, a fake device and sink, the real ClientUsage
// and a fake monotonic clock (ms): what is charged (only what is handed on),
// blocking, the gateway's own address exempt, throttling and rate limits
// measured over simulated seconds, and the overshoot past a quota.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIp } from '../../shared/net/address.js';
import type { Device, Now, Sink } from '../../shared/wireguard/device.js';
import type { Peer } from '../../shared/wireguard/peer.js';
import { packet } from '../../test/support/ip-packets.js';
import { quotaPolicy, trafficPolicy } from '../../test/support/traffic-policy.js';
import { UNLIMITED, type TrafficPolicy } from './policy.js';
import { TrafficControl, type ShapedClient } from './traffic.js';
import { ClientUsage } from './usage.js';

const SECOND = 1000;
const WALL0 = Date.UTC(2026, 5, 10, 12);
const GW4 = '198.51.100.1';
const GW6 = '2001:db8::1';
const nowAt = (mono: number): Now => ({ mono, wall: WALL0 + mono });

/** The gateway's shaper with one client, a device and a sink that count what they are handed. */
class Harness {
  readonly tc: TrafficControl;
  readonly peer = { name: 'client' } as unknown as Peer;
  readonly client: ShapedClient;
  /** Bytes and packets handed on per direction: passed by the shaper, or released to the device or sink. */
  readonly out = { down: { bytes: 0, packets: 0 }, up: { bytes: 0, packets: 0 } };
  readonly device: Device;
  readonly sink: Sink;
  now = 0;

  constructor(p: TrafficPolicy, capacity: { down: number | null; up: number | null } = { down: null, up: null }) {
    this.tc = new TrafficControl({
      capacity,
      gatewayIpv4: parseIp(GW4),
      gatewayIpv6: parseIp(GW6),
      random: (n) => new Uint8Array(n).fill(0x5a),
      now: 0,
    });
    const usage = new ClientUsage('key', p, 'UTC', WALL0, undefined);
    this.client = this.tc.add(this.peer, usage, 0);
    const out = this.out;
    const peer = this.peer;
    this.device = {
      sendPacket(to: Peer, packet: Uint8Array) {
        expect(to).toBe(peer);
        out.down.bytes += packet.length;
        out.down.packets++;
      },
    } as unknown as Device;
    this.sink = {
      toTunnel(packet: Uint8Array) {
        out.up.bytes += packet.length;
        out.up.packets++;
      },
      toNetwork: () => expect.unreachable(),
    };
  }

  get usage(): ClientUsage {
    return this.client.usage;
  }

  down(p: Uint8Array): boolean {
    const passed = this.tc.toPeer(this.peer, p, nowAt(this.now));
    if (passed) this.count('down', p);
    return passed;
  }

  up(p: Uint8Array): boolean {
    const passed = this.tc.fromPeer(this.peer, p, nowAt(this.now));
    if (passed) this.count('up', p);
    return passed;
  }

  release(): void {
    this.tc.release(nowAt(this.now), this.device, this.sink);
  }

  /** Each ms from now for `ms`: offer `perMs` packets each way, then release. */
  saturate(ms: number, perMs: number, size = 1500, check?: () => void): void {
    const d = packet({ src: '203.0.113.7', dst: '198.51.100.2', proto: 'tcp', sport: 443, size });
    const u = packet({ src: '198.51.100.2', dst: '203.0.113.7', proto: 'tcp', dport: 443, size });
    for (const end = this.now + ms; this.now < end; this.now++) {
      for (let i = 0; i < perMs; i++) {
        this.down(d);
        this.up(u);
      }
      this.release();
      check?.();
    }
  }

  private count(dir: 'down' | 'up', p: Uint8Array): void {
    this.out[dir].bytes += p.length;
    this.out[dir].packets++;
  }
}

const down = (size = 1500) => packet({ src: '203.0.113.7', dst: '198.51.100.2', size });
const up = (size = 1500) => packet({ src: '198.51.100.2', dst: '203.0.113.7', size });
const bpsOf = (bytes: number, ms: number) => (bytes * 8 * SECOND) / ms;

describe('TrafficControl', () => {
  it('charges exactly what it hands on: queue drops (CoDel, overflow) are never charged', () => {
    const h = new Harness(
      trafficPolicy({
        down: { bitsPerSecond: 1_000_000, burstBytes: 16_384 },
        up: { bitsPerSecond: 500_000, burstBytes: 16_384 },
      }),
    );
    const exact = () => {
      expect([h.usage.downBytes, h.usage.downPackets]).toEqual([h.out.down.bytes, h.out.down.packets]);
      expect([h.usage.upBytes, h.usage.upPackets]).toEqual([h.out.up.bytes, h.out.up.packets]);
    };
    h.saturate(3 * SECOND, 4, 1500, exact);
    expect(h.client.down.drops).toBeGreaterThan(0);
    expect(h.client.up.drops).toBeGreaterThan(0);
    expect(h.tc.down.overflows + h.tc.up.overflows).toBeGreaterThan(0); // 12 Mbit/s offered into 1 and 0.5
    // What was queued and is still waiting is not charged either
    expect(h.client.down.packets).toBeGreaterThan(0);
    exact();
    // An unlimited client: everything passes at once, charged as it goes
    const free = new Harness(UNLIMITED);
    for (const size of [40, 576, 1500, 9000]) {
      expect(free.down(down(size))).toBe(true);
      expect(free.up(up(size))).toBe(true);
    }
    expect([free.usage.downBytes, free.usage.downPackets, free.usage.upBytes, free.usage.upPackets]).toEqual([
      11_116, 4, 11_116, 4,
    ]);
    expect(free.tc.nextRelease()).toBe(Infinity);
  });

  it('blocked: drops both directions (counted, not charged) and empties the queues', () => {
    const h = new Harness(
      trafficPolicy({
        quota: quotaPolicy(200_000, 'block'),
        down: { bitsPerSecond: 1_000_000, burstBytes: 16_384 },
      }),
    );
    // Downloads queue behind the rate limit; uploads pass (no limit) and reach the quota
    for (let i = 0; i < 50; i++) h.down(down());
    expect(h.client.down.packets).toBeGreaterThan(30);
    while (h.usage.state === 'ok') expect(h.up(up())).toBe(true);
    expect(h.usage.state).toBe('blocked');
    const charged = { ...h.usage.row(WALL0) };
    const queued = h.client.down.packets;
    // The next packet, either way: dropped; the queue is emptied and counted
    expect(h.down(down())).toBe(false);
    expect(h.up(up())).toBe(false);
    expect(h.client.down.packets).toBe(0);
    expect(h.tc.down.bytes).toBe(0);
    expect(h.client.quotaDrops).toBe(queued + 2);
    h.now += SECOND;
    h.release();
    expect(h.out.down.packets).toBe(50 - queued);
    expect(h.tc.nextRelease()).toBe(Infinity);
    for (let i = 0; i < 10; i++) {
      expect(h.down(down())).toBe(false);
      expect(h.up(up())).toBe(false);
    }
    expect(h.client.quotaDrops).toBe(queued + 22);
    expect(h.usage.row(WALL0)).toEqual(charged);
  });

  it('blocked in the middle of a release: the rest of the queue is dropped, not sent or charged', () => {
    const h = new Harness(
      trafficPolicy({
        quota: quotaPolicy(30_000, 'block', { count: 'download' }),
        down: { bitsPerSecond: 8_000_000, burstBytes: 1500 },
      }),
    );
    for (let i = 0; i < 60; i++) h.down(down());
    expect(h.out.down.packets).toBe(1); // the burst
    for (h.now = 1; h.now <= 200; h.now++) h.release(); // 1000 bytes/ms: room for all 60
    expect(h.usage.state).toBe('blocked');
    expect(h.out.down.packets).toBe(20); // 20 x 1500 = 30 000: the quota, exactly
    expect(h.usage.downBytes).toBe(30_000);
    expect(h.client.quotaDrops).toBe(40);
    expect(h.client.down.packets).toBe(0);
  });

  it("passes traffic to and from the gateway's own tunnel address uncharged, even when blocked", () => {
    const h = new Harness(trafficPolicy({ quota: quotaPolicy(1000, 'block') }));
    const toGw4 = packet({ src: '198.51.100.2', dst: GW4, proto: 'udp', dport: 67 });
    const fromGw4 = packet({ src: GW4, dst: '198.51.100.2', proto: 'udp', sport: 67 });
    const toGw6 = packet({ src: '2001:db8::2', dst: GW6, proto: 'udp', dport: 547 });
    const fromGw6 = packet({ src: GW6, dst: '2001:db8::2', proto: 'udp', sport: 547 });
    const exempt = () => {
      expect(h.tc.fromPeer(h.peer, toGw4, nowAt(h.now))).toBe(true);
      expect(h.tc.toPeer(h.peer, fromGw4, nowAt(h.now))).toBe(true);
      expect(h.tc.fromPeer(h.peer, toGw6, nowAt(h.now))).toBe(true);
      expect(h.tc.toPeer(h.peer, fromGw6, nowAt(h.now))).toBe(true);
    };
    exempt();
    expect(h.usage.downPackets + h.usage.upPackets).toBe(0);
    expect(h.up(up(1000))).toBe(true);
    expect(h.usage.state).toBe('blocked');
    const used = h.usage.used;
    exempt();
    expect(h.usage.used).toBe(used);
    expect(h.client.quotaDrops).toBe(0);
    // Anything else is blocked, IPv6 too; a source address of the gateway's in the wrong direction is not exempt
    expect(h.down(packet({ src: '2001:db8:5::9', dst: '2001:db8::2' }))).toBe(false);
    expect(h.up(packet({ src: '2001:db8::2', dst: '2001:db8:5::9' }))).toBe(false);
    expect(h.up(packet({ src: GW4, dst: '203.0.113.7' }))).toBe(false);
    expect(h.down(packet({ src: '203.0.113.7', dst: GW4 }))).toBe(false);
    expect(h.client.quotaDrops).toBe(4);
  });

  it('throttle: past the quota both directions settle at the throttle rate (within 2 %)', () => {
    const THROTTLE = 1_000_000;
    const h = new Harness(trafficPolicy({ quota: quotaPolicy(2_000_000, 'throttle') }));
    // Unlimited until the quota: 3 x 1500 bytes per ms each way passes at once
    h.saturate(400, 3);
    expect(h.usage.state).toBe('throttled');
    expect(h.out.down.bytes + h.out.up.bytes).toBeGreaterThanOrEqual(2_000_000);
    h.saturate(SECOND, 3);
    const from = { ...h.out.down, up: h.out.up.bytes };
    h.saturate(10 * SECOND, 3);
    const downRate = bpsOf(h.out.down.bytes - from.bytes, 10 * SECOND);
    const upRate = bpsOf(h.out.up.bytes - from.up, 10 * SECOND);
    expect(Math.abs(downRate - THROTTLE) / THROTTLE).toBeLessThan(0.02);
    expect(Math.abs(upRate - THROTTLE) / THROTTLE).toBeLessThan(0.02);
    expect(h.client.down.bucket!.bitsPerSecond).toBe(THROTTLE);
    expect(h.client.up.bucket!.bitsPerSecond).toBe(THROTTLE);
    expect(h.usage.downBytes).toBe(h.out.down.bytes);
    expect(h.usage.upBytes).toBe(h.out.up.bytes);
  });

  it('rate limits: each direction measures its own rate within 2 %, also under a link capacity', () => {
    for (const capacity of [
      { down: null, up: null },
      { down: 100_000_000, up: 20_000_000 },
    ]) {
      const h = new Harness(
        trafficPolicy({
          down: { bitsPerSecond: 5_000_000, burstBytes: 62_500 },
          up: { bitsPerSecond: 2_000_000, burstBytes: 25_000 },
        }),
        capacity,
      );
      h.saturate(SECOND, 2);
      const from = { down: h.out.down.bytes, up: h.out.up.bytes };
      h.saturate(10 * SECOND, 2);
      const downRate = bpsOf(h.out.down.bytes - from.down, 10 * SECOND);
      const upRate = bpsOf(h.out.up.bytes - from.up, 10 * SECOND);
      expect(Math.abs(downRate - 5_000_000) / 5_000_000).toBeLessThan(0.02);
      expect(Math.abs(upRate - 2_000_000) / 2_000_000).toBeLessThan(0.02);
    }
  });

  it('overshoots a quota by less than one packet, whatever the sizes, directions, count mode and limits', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300_000 }),
        fc.constantFrom('download' as const, 'upload' as const, 'both' as const),
        fc.boolean(),
        fc.array(fc.record({ size: fc.integer({ min: 32, max: 1500 }), dir: fc.boolean(), dt: fc.nat(3) }), {
          minLength: 1,
          maxLength: 400,
        }),
        (bytes, count, limited, traffic) => {
          const limit = limited ? { bitsPerSecond: 2_000_000, burstBytes: 16_384 } : null;
          const h = new Harness(
            trafficPolicy({ quota: quotaPolicy(bytes, 'block', { count }), down: limit, up: limit }),
            {
              down: 50_000_000,
              up: null,
            },
          );
          for (let i = 0; h.usage.state === 'ok' && i < 10_000; i++) {
            const t = traffic[i % traffic.length]!;
            h.now += t.dt;
            if (t.dir) h.down(down(t.size));
            else h.up(up(t.size));
            h.release();
          }
          for (let i = 0; i < 100; i++, h.now += 10) h.release();
          if (h.usage.state === 'ok') return; // this traffic never counts (e.g. uploads only, count: download)
          expect(h.usage.used).toBeGreaterThanOrEqual(bytes);
          expect(h.usage.used - bytes).toBeLessThan(1500);
          expect(h.usage.downBytes).toBe(h.out.down.bytes);
          expect(h.usage.upBytes).toBe(h.out.up.bytes);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a period rollover lifts a throttle: the next packet drops the bucket, the queue follows within a packet time', () => {
    // Uploads count (and cross the quota); the throttle holds both directions
    const h = new Harness(trafficPolicy({ quota: quotaPolicy(300_000, 'throttle', { count: 'upload' }) }));
    h.saturate(100, 3);
    expect(h.usage.state).toBe('throttled');
    expect(h.client.down.packets).toBeGreaterThan(0);
    expect(h.usage.rollover(Date.UTC(2026, 6, 1, 0, 0, 1))).not.toBeNull();
    expect(h.usage.state).toBe('ok');
    expect(h.down(down())).toBe(false); // behind the queue, but the bucket is gone
    expect(h.client.down.bucket).toBeNull();
    const until = h.now + 13; // 1500 bytes at the 1 Mbit/s throttle: 12 ms
    for (; h.now < until; h.now++) h.release();
    expect(h.client.down.packets).toBe(0);
    for (let i = 0; i < 100; i++) expect(h.down(down())).toBe(true);
  });

  it('setPolicy() hands back the finished period when the new policy counts in another period', () => {
    const h = new Harness(trafficPolicy({ quota: quotaPolicy(1e9, 'block') }));
    h.saturate(10, 2);
    const weekly = quotaPolicy(1e9, 'block', { period: { unit: 'week', resetDay: 1, resetHour: 0, timeZone: 'UTC' } });
    expect(h.tc.setPolicy(h.peer, trafficPolicy({ quota: quotaPolicy(2e9, 'block') }), WALL0 + 10, 10)).toBeNull();
    const finished = h.tc.setPolicy(h.peer, trafficPolicy({ quota: weekly }), WALL0 + 10, 10);
    expect(finished).toMatchObject({
      publicKey: 'key',
      downBytes: 30_000,
      upBytes: 30_000,
      periodStart: Date.UTC(2026, 5, 1),
    });
    expect(h.usage.downBytes).toBe(0);
    expect(h.usage.periodStart).toBe(Date.UTC(2026, 5, 8)); // the Monday before 10 June 2026
  });

  it('remove() drops what a client had queued; setPolicy() applies new limits at once', () => {
    const h = new Harness(trafficPolicy({ down: { bitsPerSecond: 1_000_000, burstBytes: 1500 } }));
    for (let i = 0; i < 20; i++) h.down(down());
    expect(h.tc.down.bytes).toBe(19 * 1500);
    h.tc.setPolicy(
      h.peer,
      trafficPolicy({ down: { bitsPerSecond: 8_000_000, burstBytes: 1500 }, weight: 4 }),
      WALL0,
      0,
    );
    expect(h.client.down.bucket!.bitsPerSecond).toBe(8_000_000);
    expect(h.client.down.weight).toBe(4);
    h.tc.remove(h.peer);
    expect(h.tc.client(h.peer)).toBeUndefined();
    expect(h.tc.down.bytes).toBe(0);
    h.now = SECOND;
    h.release();
    expect(h.out.down.packets).toBe(1);
    expect(h.tc.nextRelease()).toBe(Infinity);
    // A peer the shaper does not know passes untouched
    expect(h.down(down())).toBe(true);
  });
});
