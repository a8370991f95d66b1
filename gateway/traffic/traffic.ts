// The gateway's shaper: per-client accounting, quotas, rate limits and a fair
// share of the uplink, in the data path (shared/wireguard/shaper.ts).
//
//   download: TUN → device routes to peer → toPeer ─┐
//   upload:   peer → device (source checked) → fromPeer ─┤
//      to/from the gateway's own tunnel address? → pass (neither charged nor shaped)
//      quota state changed since the last packet? → buckets for it (rate, throttle), or drop the queues (blocked)
//      blocked → drop (counted)
//      scheduler.submit: may go now → charge (ClientUsage.add) → pass
//                        else queued (or dropped when full)
//   release (runner, batch ends and timer) → scheduler.release → charge → device.sendPacket / tun
//
// Charged is what is handed on: dropped packets never count. A packet is
// charged at its inner IP size, the size the client sent or receives.

import type { HeldPackets } from '../../shared/runner/runner.js';
import type { Device, Now, Shaper, Sink } from '../../shared/wireguard/device.js';
import type { Peer } from '../../shared/wireguard/peer.js';
import type { RandomBytes } from '../../shared/wireguard/crypto.js';
import { ClientQueue } from './client-queue.js';
import type { RateLimit, TrafficPolicy, UplinkCapacity } from './policy.js';
import { DirectionScheduler } from './scheduler.js';
import { TokenBucket } from './token-bucket.js';
import type { ClientUsage, Direction, QuotaState, UsageRow } from './usage.js';

/** Burst of the link bucket: a few ms at the capacity (timers are 1 ms at best), at least 16 full packets. */
const LINK_BURST_MS = 4;
const LINK_BURST_MIN_BYTES = 16 * 1514;

/** One client as the shaper sees it. */
export class ShapedClient {
  /** The quota state the buckets were set up for. */
  mode: QuotaState = 'ok';
  /** Packets dropped because the client is blocked. */
  quotaDrops = 0;
  readonly down: ClientQueue<ShapedClient>;
  readonly up: ClientQueue<ShapedClient>;

  constructor(
    readonly peer: Peer,
    readonly usage: ClientUsage,
    public policy: TrafficPolicy,
    seeds: Uint32Array,
  ) {
    this.down = new ClientQueue(this, policy.weight, null, seeds[0]!);
    this.up = new ClientQueue(this, policy.weight, null, seeds[1]!);
  }
}

export interface TrafficOptions {
  capacity: UplinkCapacity;
  /** The gateway's own tunnel addresses (4 and 16 bytes): traffic to or from them is exempt. */
  gatewayIpv4: Uint8Array;
  gatewayIpv6: Uint8Array;
  random: RandomBytes;
  /** Monotonic ms now. */
  now: number;
}

export class TrafficControl implements Shaper, HeldPackets {
  readonly down: DirectionScheduler<ShapedClient>;
  readonly up: DirectionScheduler<ShapedClient>;
  private readonly byPeer = new Map<Peer, ShapedClient>();
  private readonly gw4: number;
  private readonly gw6: Uint8Array;
  private readonly random: RandomBytes;
  private lastMono: number;

  constructor(options: TrafficOptions) {
    const link = (bps: number | null) =>
      bps === null
        ? null
        : new TokenBucket(bps, Math.max((bps / 8000) * LINK_BURST_MS, LINK_BURST_MIN_BYTES), options.now);
    this.down = new DirectionScheduler(link(options.capacity.down));
    this.up = new DirectionScheduler(link(options.capacity.up));
    this.gw4 = readU32(options.gatewayIpv4, 0);
    this.gw6 = options.gatewayIpv6;
    this.random = options.random;
    this.lastMono = options.now;
  }

  /** Starts shaping a peer with its usage (loaded for the current period) and policy. */
  add(peer: Peer, usage: ClientUsage, now: number): ShapedClient {
    const seeds = new Uint32Array(Uint8Array.from(this.random(8)).buffer);
    const c = new ShapedClient(peer, usage, usage.policy, seeds);
    this.byPeer.set(peer, c);
    this.apply(c, now);
    return c;
  }

  /** Stops shaping a peer; what it had queued is dropped. */
  remove(peer: Peer): void {
    const c = this.byPeer.get(peer);
    if (c === undefined) return;
    this.down.drain(c.down);
    this.up.drain(c.up);
    this.byPeer.delete(peer);
  }

  client(peer: Peer): ShapedClient | undefined {
    return this.byPeer.get(peer);
  }

  clients(): IterableIterator<ShapedClient> {
    return this.byPeer.values();
  }

  /**
   * A new policy for a client (config reload, admin API): usage is kept, limits apply at once.
   * Returns the finished period's row when the new policy's period starts elsewhere (history, to be stored).
   */
  setPolicy(peer: Peer, policy: TrafficPolicy, wallMs: number, now: number): UsageRow | null {
    const c = this.byPeer.get(peer);
    if (c === undefined) return null;
    const finished = c.usage.setPolicy(policy, wallMs);
    c.policy = policy;
    c.down.weight = c.up.weight = policy.weight;
    this.apply(c, now);
    return finished;
  }

  // ------------------------------------------------------------ data path

  toPeer(peer: Peer, packet: Uint8Array, now: Now): boolean {
    const c = this.byPeer.get(peer);
    // A download from the gateway itself (its source) is exempt.
    if (c === undefined || this.isGateway(packet, 12, 8)) return true;
    return this.admit(c, 'down', packet, now.mono);
  }

  fromPeer(peer: Peer, packet: Uint8Array, now: Now): boolean {
    const c = this.byPeer.get(peer);
    // An upload to the gateway itself (its destination) is exempt.
    if (c === undefined || this.isGateway(packet, 16, 24)) return true;
    return this.admit(c, 'up', packet, now.mono);
  }

  /** A client's packet in one direction: dropped (blocked), queued, or sent now and charged. */
  private admit(c: ShapedClient, dir: Direction, packet: Uint8Array, now: number): boolean {
    if (!this.mayGo(c, now)) return false;
    if (!this[dir].submit(c[dir], packet, now)) return false;
    c.usage.add(dir, packet.length);
    return true;
  }

  release(now: Now, device: Device, sink: Sink): void {
    this.lastMono = now.mono;
    this.down.release(now.mono, (q, packet) => {
      if (this.mayGo(q.owner, now.mono)) {
        q.owner.usage.add('down', packet.length);
        device.sendPacket(q.owner.peer, packet, now, sink);
      }
    });
    this.up.release(now.mono, (q, packet) => {
      if (this.mayGo(q.owner, now.mono)) {
        q.owner.usage.add('up', packet.length);
        sink.toTunnel(packet);
      }
    });
  }

  nextRelease(): number {
    return Math.min(this.down.nextRelease(this.lastMono), this.up.nextRelease(this.lastMono));
  }

  // -------------------------------------------------------------- helpers

  /** False (and counted) when the client is blocked by now; its buckets follow its quota state. */
  private mayGo(c: ShapedClient, now: number): boolean {
    if (c.usage.state !== c.mode) this.apply(c, now);
    if (c.mode !== 'blocked') return true;
    c.quotaDrops++;
    return false;
  }

  /** Sets a client's buckets for its quota state: its rates, the throttle, or none and empty queues (blocked). */
  private apply(c: ShapedClient, now: number): void {
    const state = c.usage.state;
    c.mode = state;
    if (state === 'blocked') {
      c.quotaDrops += this.down.drain(c.down) + this.up.drain(c.up);
      c.down.bucket = c.up.bucket = null;
      return;
    }
    const throttle = state === 'throttled' ? (c.policy.quota?.throttle ?? null) : null;
    c.down.bucket = bucket(throttle ?? c.policy.down, now);
    c.up.bucket = bucket(throttle ?? c.policy.up, now);
  }

  /** Whether the packet's address at the IPv4 or IPv6 offset is the gateway's own tunnel address. */
  private isGateway(p: Uint8Array, offset4: number, offset6: number): boolean {
    if (p[0]! >> 4 === 4) return p.length >= 20 && readU32(p, offset4) === this.gw4;
    if (p.length < 40) return false;
    for (let i = 0; i < 16; i++) if (p[offset6 + i] !== this.gw6[i]) return false;
    return true;
  }
}

function bucket(limit: RateLimit | null, now: number): TokenBucket | null {
  return limit === null ? null : new TokenBucket(limit.bitsPerSecond, limit.burstBytes, now);
}

function readU32(p: Uint8Array, o: number): number {
  return ((p[o]! << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!) >>> 0;
}
