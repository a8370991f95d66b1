// One client's queue in one direction: its packets spread over flow queues
// by a hash of the 5-tuple, each flow with its own CoDel (codel.ts), served
// in deficit round robin with new flows first, as fq_codel does (RFC 8290
// sections 4.1 to 4.3). A ping or a DNS query of a client that is also
// downloading waits behind at most one packet of each of its other flows,
// not behind its whole backlog.
//
// The scheduler (scheduler.ts) owns the fields marked "scheduler's".

import { CodelQueue } from './codel.js';
import type { TokenBucket } from './token-bucket.js';

/** Flow queues per client: collisions only share a queue among one client's own flows. */
export const FLOWS_PER_CLIENT = 32;
/** Bytes a flow may send per round (RFC 8290 section 4.1: one MTU-sized packet plus link header). */
const FLOW_QUANTUM = 1514;

class Flow {
  readonly q = new CodelQueue();
  deficit = 0;
  /** On the new or the old list. */
  listed = false;
}

export class ClientQueue<O = unknown> {
  /** Bytes and packets waiting, over all flows. */
  bytes = 0;
  packets = 0;
  /** Packets dropped by CoDel (queue delay) or because the queue was full. */
  drops = 0;
  /** Scheduler's: deficit of this client's round-robin turn, in bytes. */
  deficit = 0;
  /** Scheduler's: where the client is (idle: nothing queued). */
  where: 'idle' | 'ring' | 'sleeping' = 'idle';
  /** Scheduler's: when a sleeping client's own bucket has tokens again. */
  wakeAt = 0;

  private readonly flows: (Flow | undefined)[] = new Array(FLOWS_PER_CLIENT);
  private newFlows: Flow[] = [];
  private oldFlows: Flow[] = [];

  /**
   * @param owner whose queue this is (the scheduler hands it back with each packet)
   * @param weight share of the link under congestion (DRR quantum multiplier)
   * @param bucket the client's own rate limit in force now (rate, or throttle), or null
   */
  constructor(
    readonly owner: O,
    public weight: number,
    public bucket: TokenBucket | null,
    private readonly seed: number,
  ) {}

  /** Queues a packet the queue now owns (a copy). */
  push(packet: Uint8Array, now: number): void {
    const h = flowHash(packet, this.seed) % FLOWS_PER_CLIENT;
    let flow = this.flows[h];
    if (flow === undefined) flow = this.flows[h] = new Flow();
    flow.q.push(packet, now);
    this.bytes += packet.length;
    this.packets++;
    if (!flow.listed) {
      flow.listed = true;
      flow.deficit = FLOW_QUANTUM;
      this.newFlows.push(flow);
    }
  }

  /** The next packet of this client (after CoDel drops), or null when nothing is left. */
  pop(now: number): Uint8Array | null {
    for (;;) {
      const fromNew = this.newFlows.length > 0;
      const list = fromNew ? this.newFlows : this.oldFlows;
      const flow = list[0];
      if (flow === undefined) return null;
      if (flow.deficit <= 0) {
        flow.deficit += FLOW_QUANTUM;
        list.shift();
        this.oldFlows.push(flow);
        continue;
      }
      const bytes = flow.q.bytes;
      const packets = flow.q.length;
      const dropsBefore = flow.q.drops;
      const packet = flow.q.pop(now);
      this.bytes -= bytes - flow.q.bytes;
      this.packets -= packets - flow.q.length;
      this.drops += flow.q.drops - dropsBefore;
      if (packet === null) {
        // Empty: a new flow goes to the old list once (RFC 8290 section 4.2), an old one leaves.
        list.shift();
        if (fromNew && this.oldFlows.length > 0) this.oldFlows.push(flow);
        else flow.listed = false;
        continue;
      }
      flow.deficit -= packet.length;
      return packet;
    }
  }

  /** Drops everything queued; returns how many packets. */
  clear(): number {
    const n = this.packets;
    for (const flow of this.flows) {
      if (flow === undefined) continue;
      flow.q.clear();
      flow.listed = false;
    }
    this.newFlows = [];
    this.oldFlows = [];
    this.bytes = this.packets = 0;
    return n;
  }
}

/**
 * A hash of an IP packet's flow: addresses, protocol and, for TCP, UDP and
 * SCTP without fragmentation, the ports. Seeded per client so that flows
 * cannot be aimed at one queue from outside.
 */
export function flowHash(p: Uint8Array, seed: number): number {
  let h = seed | 0;
  let proto: number;
  let l4: number;
  if (p[0]! >> 4 === 4) {
    if (p.length < 20) return h >>> 0;
    h = mix(h, word(p, 12));
    h = mix(h, word(p, 16));
    proto = p[9]!;
    const fragmented = ((p[6]! & 0x3f) | p[7]!) !== 0; // MF flag or an offset
    l4 = fragmented ? -1 : (p[0]! & 0x0f) * 4;
  } else {
    if (p.length < 40) return h >>> 0;
    for (let o = 8; o < 40; o += 4) h = mix(h, word(p, o));
    h = mix(h, word(p, 0) & 0xfffff); // flow label
    proto = p[6]!;
    l4 = 40;
  }
  h = mix(h, proto);
  if (l4 > 0 && (proto === 6 || proto === 17 || proto === 132) && p.length >= l4 + 4) h = mix(h, word(p, l4));
  return h >>> 0;
}

function word(p: Uint8Array, o: number): number {
  return (p[o]! << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]! | 0;
}

/** One round of a multiplicative hash (Murmur3's 32-bit constants). */
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}
