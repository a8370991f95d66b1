// Session indices: the random 32-bit numbers by which each side names its
// handshakes and keypairs on the wire (whitepaper section 5.4.2: "sender").
// A received message's receiver index finds the state it belongs to in O(1).

import { readU32 } from './messages.js';
import type { RandomBytes } from './crypto.js';

export class IndexTable<T> {
  private readonly entries = new Map<number, T>();

  /** A fresh random index not in use, bound to `value`. */
  allocate(value: T, random: RandomBytes): number {
    for (;;) {
      const index = readU32(random(4), 0);
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
