// CoDel, "Controlled Delay" (RFC 8289), for one FIFO of packets: drops are
// decided on dequeue from each packet's sojourn time (how long it waited),
// not from the queue's length. When the sojourn time stays above TARGET for a
// whole INTERVAL, CoDel starts dropping, at intervals that shrink with the
// square root of the drops so far, until the delay is back below TARGET.
// This keeps a standing queue near 5 ms however fast the link is, so a light
// flow behind a bulk one sees little delay.
//
// The constants and the state machine are the RFC's (sections 4 and 5); the
// FIFO is a growable ring of packet copies with their arrival times.

/** Acceptable standing queue delay (RFC 8289 section 4.4). */
export const CODEL_TARGET_MS = 5;
/** Window in which the delay must fall below TARGET once (RFC 8289 section 4.3). */
export const CODEL_INTERVAL_MS = 100;
/** A queue holding no more than one full packet is never dropped from ("maxpacket", RFC 8289 section 4.2). */
export const CODEL_MAX_PACKET = 1500;
/** RFC 8289 section 5.5: when dropping resumes within this many intervals, the drop rate continues. */
const RESUME_WITHIN_INTERVALS = 16;

const INITIAL_RING = 16;

export class CodelQueue {
  /** Bytes waiting. */
  bytes = 0;
  /** Packets CoDel dropped. */
  drops = 0;
  private ring: (Uint8Array | undefined)[] = new Array(INITIAL_RING);
  private times = new Float64Array(INITIAL_RING);
  private head = 0;
  private size = 0;
  // CoDel state (RFC 8289 section 5.2)
  private firstAboveTime = 0;
  private dropNext = 0;
  private count = 0;
  private lastCount = 0;
  private dropping = false;
  /** Set by take(): the packet it returned waited long enough to be dropped. */
  private okToDrop = false;

  get length(): number {
    return this.size;
  }

  /** Appends a packet the queue now owns (the caller copied it). */
  push(packet: Uint8Array, now: number): void {
    if (this.size === this.ring.length) this.grow();
    const i = (this.head + this.size) & (this.ring.length - 1);
    this.ring[i] = packet;
    this.times[i] = now;
    this.size++;
    this.bytes += packet.length;
  }

  /** The next packet to send, after CoDel's drops (counted in `drops`); null when empty. */
  pop(now: number): Uint8Array | null {
    let packet = this.take(now);
    if (this.dropping) {
      if (!this.okToDrop) this.dropping = false;
      while (this.dropping && now >= this.dropNext && packet !== null) {
        this.drops++;
        this.count++;
        packet = this.take(now);
        if (!this.okToDrop) this.dropping = false;
        else this.dropNext = controlLaw(this.dropNext, this.count);
      }
    } else if (this.okToDrop && packet !== null) {
      this.drops++;
      packet = this.take(now);
      this.dropping = true;
      const delta = this.count - this.lastCount;
      this.count = delta > 1 && now - this.dropNext < RESUME_WITHIN_INTERVALS * CODEL_INTERVAL_MS ? delta : 1;
      this.dropNext = controlLaw(now, this.count);
      this.lastCount = this.count;
    }
    return packet;
  }

  /** Drops everything (a client blocked or removed); returns how many packets. */
  clear(): number {
    const n = this.size;
    this.ring.fill(undefined);
    this.head = this.size = this.bytes = 0;
    this.dropping = false;
    this.firstAboveTime = 0;
    return n;
  }

  /** RFC 8289 dodequeue: takes the head; okToDrop says whether its delay allows a drop. */
  private take(now: number): Uint8Array | null {
    this.okToDrop = false;
    if (this.size === 0) {
      this.firstAboveTime = 0;
      return null;
    }
    const i = this.head;
    const packet = this.ring[i]!;
    const sojourn = now - this.times[i]!;
    this.ring[i] = undefined;
    this.head = (i + 1) & (this.ring.length - 1);
    this.size--;
    this.bytes -= packet.length;
    if (sojourn < CODEL_TARGET_MS || this.bytes <= CODEL_MAX_PACKET) {
      this.firstAboveTime = 0;
    } else if (this.firstAboveTime === 0) {
      this.firstAboveTime = now + CODEL_INTERVAL_MS;
    } else {
      this.okToDrop = now >= this.firstAboveTime;
    }
    return packet;
  }

  private grow(): void {
    const n = this.ring.length;
    const ring: (Uint8Array | undefined)[] = new Array(n * 2);
    const times = new Float64Array(n * 2);
    for (let k = 0; k < this.size; k++) {
      const j = (this.head + k) & (n - 1);
      ring[k] = this.ring[j];
      times[k] = this.times[j]!;
    }
    this.ring = ring;
    this.times = times;
    this.head = 0;
  }
}

/** RFC 8289 section 5.5: the next drop, INTERVAL / sqrt(count) after `t`. */
function controlLaw(t: number, count: number): number {
  return t + CODEL_INTERVAL_MS / Math.sqrt(count);
}
