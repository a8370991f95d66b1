// A token bucket per source for handshake messages while the device is under
// load (whitepaper section 5.3, "denial of service"): each source may start
// RATE_LIMIT_PACKETS_PER_SECOND handshakes per second with a small burst. A
// source is an IPv4 address, or an IPv6 /64, as the kernel implementation
// counts: whoever holds one IPv6 address usually holds its whole /64 (every
// Yggdrasil node does), so counting per address would give them 2^64 buckets.
// Time is passed in; stale buckets are swept lazily.

import { RATE_LIMIT_BURST, RATE_LIMIT_PACKETS_PER_SECOND } from './constants.js';

interface Bucket {
  tokens: number;
  updatedAt: number;
}

const SWEEP_EVERY = 1_000;
/** Bytes of an IPv6 address that name its /64. */
const IPV6_PREFIX_BYTES = 8;
/** Where the IPv4 address sits in a v4-mapped IPv6 address (::ffff:a.b.c.d). */
const V4_MAPPED_OFFSET = 12;

/**
 * The rate-limit source of a 16-byte endpoint address (IPv4 v4-mapped), as a
 * compact Map key: the 4 IPv4 bytes, or the first 8 bytes of an IPv6 address,
 * two bytes per character (the lengths keep the two families apart).
 */
export function rateLimitKey(address: Uint8Array): string {
  const v4 = isV4Mapped(address);
  const from = v4 ? V4_MAPPED_OFFSET : 0;
  const to = v4 ? V4_MAPPED_OFFSET + 4 : IPV6_PREFIX_BYTES;
  let key = '';
  for (let i = from; i < to; i += 2) key += String.fromCharCode((address[i]! << 8) | address[i + 1]!);
  return key;
}

function isV4Mapped(a: Uint8Array): boolean {
  if (a.length !== 16 || a[10] !== 0xff || a[11] !== 0xff) return false;
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return true;
}
const FORGET_AFTER = 1_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = -Infinity;

  constructor(
    private readonly perSecond = RATE_LIMIT_PACKETS_PER_SECOND,
    private readonly burst = RATE_LIMIT_BURST,
  ) {}

  /** True when a packet from `source` (a rateLimitKey) may pass now. */
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
