// The scheduler of one direction (downloads, or uploads): who sends next.
//
//   submit(client, packet):  nothing of the client waiting, its own bucket and
//                            the link's have tokens → "send now" (no copy);
//                            else the packet is copied into the client's queue
//   release(now, emit):      clients with packets waiting, in deficit round
//                            robin (weighted quantum), while the link's bucket
//                            has tokens; a client whose own bucket is empty
//                            sleeps until it refills and is skipped
//   nextRelease():           when release() can next send something
//
// The link bucket runs at the configured uplink capacity (none: only the
// clients' own limits apply). Sharing it in deficit round robin gives each
// backlogged client an equal share, or one proportional to its weight, however
// many flows it opens; inside a client its flows share in turn again
// (client-queue.ts). A client's queue is bounded in bytes, and so is the sum
// of all queues; a packet arriving beyond either bound is dropped and counted.

import type { ClientQueue } from './client-queue.js';
import type { TokenBucket } from './token-bucket.js';

/** DRR quantum per unit of weight: one full-size packet. */
export const CLIENT_QUANTUM = 1514;
/** Most bytes one client may have waiting in one direction. */
export const CLIENT_QUEUE_LIMIT = 2 * 1024 * 1024;
/** Most bytes waiting in one direction over all clients. */
export const TOTAL_QUEUE_LIMIT = 64 * 1024 * 1024;

export type Emit<O> = (client: ClientQueue<O>, packet: Uint8Array) => void;

export class DirectionScheduler<O> {
  /** Bytes waiting over all clients. */
  bytes = 0;
  /** Packets dropped because a queue was full. */
  overflows = 0;
  /** Backlogged clients allowed to send, in round-robin order. */
  private ring: ClientQueue<O>[] = [];
  /** Backlogged clients waiting for their own bucket. */
  private sleeping: ClientQueue<O>[] = [];
  private nextWake = Infinity;

  constructor(public link: TokenBucket | null) {}

  /** True: send the packet now (it was charged to the buckets). False: it was queued or dropped. */
  submit(c: ClientQueue<O>, packet: Uint8Array, now: number): boolean {
    if (c.packets === 0 && (c.bucket === null || c.bucket.ready(now))) {
      const link = this.link;
      if (link === null || (this.ring.length === 0 && link.ready(now))) {
        link?.take(packet.length);
        c.bucket?.take(packet.length);
        return true;
      }
    }
    if (c.bytes + packet.length > CLIENT_QUEUE_LIMIT || this.bytes + packet.length > TOTAL_QUEUE_LIMIT) {
      c.drops++;
      this.overflows++;
      return false;
    }
    c.push(Uint8Array.from(packet), now);
    this.bytes += packet.length;
    if (c.where === 'idle') {
      c.where = 'ring';
      c.deficit = CLIENT_QUANTUM * c.weight;
      this.ring.push(c);
    }
    return false;
  }

  /** Sends (through `emit`) what the buckets allow now. */
  release(now: number, emit: Emit<O>): void {
    if (this.nextWake <= now) this.wake(now);
    const link = this.link;
    while (this.ring.length > 0) {
      if (link !== null && !link.ready(now)) break;
      const c = this.ring[0]!;
      if (c.bucket !== null && !c.bucket.ready(now)) {
        this.ring.shift();
        this.sleep(c, c.bucket.readyAt(now));
        continue;
      }
      if (c.deficit <= 0) {
        c.deficit += CLIENT_QUANTUM * c.weight;
        this.ring.shift();
        this.ring.push(c);
        continue;
      }
      const before = c.bytes;
      const packet = c.pop(now);
      this.bytes -= before - c.bytes;
      if (packet === null) {
        this.ring.shift();
        c.where = 'idle';
        continue;
      }
      c.deficit -= packet.length;
      if (c.packets === 0) {
        // Its last packet: idle now, so nextRelease() does not wake for it
        this.ring.shift();
        c.where = 'idle';
      }
      link?.take(packet.length);
      c.bucket?.take(packet.length);
      emit(c, packet);
    }
  }

  /** When release() next has something to send (monotonic ms), or Infinity. */
  nextRelease(now: number): number {
    let at = this.nextWake;
    if (this.ring.length > 0) at = Math.min(at, this.link === null ? now : this.link.readyAt(now));
    return at;
  }

  /** Drops what a client has queued (it was blocked or removed); returns how many packets. */
  drain(c: ClientQueue<O>): number {
    this.bytes -= c.bytes;
    const n = c.clear();
    if (c.where === 'ring') this.ring.splice(this.ring.indexOf(c), 1);
    else if (c.where === 'sleeping') {
      this.sleeping.splice(this.sleeping.indexOf(c), 1);
      this.nextWake = this.sleeping.reduce((at, s) => Math.min(at, s.wakeAt), Infinity);
    }
    c.where = 'idle';
    return n;
  }

  private sleep(c: ClientQueue<O>, until: number): void {
    c.where = 'sleeping';
    c.wakeAt = until;
    this.sleeping.push(c);
    if (until < this.nextWake) this.nextWake = until;
  }

  /** Sleepers whose bucket refilled go back to the end of the ring. */
  private wake(now: number): void {
    let next = Infinity;
    const still: ClientQueue<O>[] = [];
    for (const c of this.sleeping) {
      if (c.wakeAt <= now) {
        c.where = 'ring';
        this.ring.push(c);
      } else {
        still.push(c);
        if (c.wakeAt < next) next = c.wakeAt;
      }
    }
    this.sleeping = still;
    this.nextWake = next;
  }
}
