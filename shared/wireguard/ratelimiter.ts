// A token bucket per source address for handshake messages while the device
// is under load (whitepaper section 5.3, "denial of service"): each address
// may start RATE_LIMIT_PACKETS_PER_SECOND handshakes per second with a small
// burst. Time is passed in; stale buckets are swept lazily.

import { RATE_LIMIT_BURST, RATE_LIMIT_PACKETS_PER_SECOND } from './constants.js';

interface Bucket {
  tokens: number;
  updatedAt: number;
}

const SWEEP_EVERY = 1_000;
const FORGET_AFTER = 1_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = -Infinity;

  constructor(
    private readonly perSecond = RATE_LIMIT_PACKETS_PER_SECOND,
    private readonly burst = RATE_LIMIT_BURST,
  ) {}

  /** True when a packet from `source` (an address key, without the port) may pass now. */
  allow(source: string, now: number): boolean {
    if (now - this.lastSweep > SWEEP_EVERY) this.sweep(now);
    let b = this.buckets.get(source);
    if (b === undefined) {
      b = { tokens: this.burst, updatedAt: now };
      this.buckets.set(source, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.updatedAt) * this.perSecond) / 1000);
      b.updatedAt = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [k, b] of this.buckets) if (now - b.updatedAt > FORGET_AFTER) this.buckets.delete(k);
  }

  get size(): number {
    return this.buckets.size;
  }
}
