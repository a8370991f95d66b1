// Session indices: the random 32-bit numbers by which each side names its
// handshakes and keypairs on the wire (whitepaper section 5.4.2: "sender").
// A received message's receiver index finds the state it belongs to in O(1).

import { readU32 } from './messages.js';
import type { RandomBytes } from './crypto.js';

/**
 * Indices drawn from the random source per call to it: an index is public
 * (it travels in clear), and each call costs a few microseconds of its own,
 * which a responder answering thousands of handshakes a second notices.
 */
const INDICES_PER_DRAW = 64;
const INDEX_LEN = 4;

export class IndexTable<T> {
  private readonly entries = new Map<number, T>();
  private pool: Uint8Array = new Uint8Array(0);
  private poolAt = 0;

  /** A fresh random index not in use, bound to `value`. */
  allocate(value: T, random: RandomBytes): number {
    for (;;) {
      if (this.poolAt + INDEX_LEN > this.pool.length) {
        this.pool = random(INDICES_PER_DRAW * INDEX_LEN);
        this.poolAt = 0;
      }
      const index = readU32(this.pool, this.poolAt);
      this.poolAt += INDEX_LEN;
      if (!this.entries.has(index)) {
        this.entries.set(index, value);
        return index;
      }
    }
  }

  get(index: number): T | undefined {
    return this.entries.get(index);
  }

  /** Rebinds an index already allocated (a handshake's index becomes its keypair's). */
  set(index: number, value: T): void {
    this.entries.set(index, value);
  }

  delete(index: number): void {
    this.entries.delete(index);
  }

  get size(): number {
    return this.entries.size;
  }
}
