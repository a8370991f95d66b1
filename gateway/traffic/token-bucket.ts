// A token bucket: a rate in bits per second and a burst in bytes, on the
// monotonic clock the runner passes in (ms). A packet may go while the bucket
// holds any tokens, and takes its whole size, so the level can dip below zero
// by at most one packet: the rate holds exactly over time, and a limit is
// overshot by at most one packet beyond the burst.

export class TokenBucket {
  /** Bytes per millisecond. */
  private rate: number;
  private burst: number;
  private tokens: number;
  private last: number;

  constructor(bitsPerSecond: number, burstBytes: number, now: number) {
    this.rate = bitsPerSecond / 8000;
    this.burst = burstBytes;
    this.tokens = burstBytes; // a new bucket starts full
    this.last = now;
  }

  get bitsPerSecond(): number {
    return this.rate * 8000;
  }

  /** True when a packet may go now. */
  ready(now: number): boolean {
    if (now > this.last) {
      const t = this.tokens + (now - this.last) * this.rate;
      this.tokens = t > this.burst ? this.burst : t;
      this.last = now;
    }
    return this.tokens > 0;
  }

  /** Charges a packet that went (after ready() said yes). */
  take(bytes: number): void {
    this.tokens -= bytes;
  }

  /** When ready() will next say yes (monotonic ms); `now` when it already does. */
  readyAt(now: number): number {
    if (this.ready(now)) return now;
    return this.last + (-this.tokens + 1) / this.rate;
  }

  /** A new rate and burst; the level is kept (capped at the new burst). */
  set(bitsPerSecond: number, burstBytes: number, now: number): void {
    this.ready(now);
    this.rate = bitsPerSecond / 8000;
    this.burst = burstBytes;
    if (this.tokens > burstBytes) this.tokens = burstBytes;
  }
}
