// The sliding-window replay filter for transport data counters, the RFC 6479
// construction that WireGuard uses (WireGuard paper section 5.4.6).
//
//   receive: decrypt and authenticate the packet FIRST, then accept(counter);
//   a false answer drops the packet as 'replayed-counter'.
//
// Calling accept() before the tag is verified would let anyone with a forged
// packet push the window forward and make genuine packets look stale.
//
// The seen-counters bitmap is a ring of 32-bit words. Moving the window forward
// only clears the words between the old and the new highest counter (RFC 6479
// section 2), so a jump costs at most one pass over the ring and an in-window
// counter costs one word test. One word more than the window needs is kept so
// that the word holding the highest counter never overlaps the oldest one.
//
// A new ReplayWindow is ready to use; reset() it for each new keypair. Not safe
// for concurrent use (one receiving keypair owns one window).

import { REJECT_AFTER_MESSAGES, REPLAY_WINDOW_SIZE } from './constants.js';

/**
 * Implementation limit: counters are JS numbers, exact up to 2^53 - 1, so
 * larger ones are rejected as well as those at or above RejectAfterMessages
 * (2^64 - 2^13 - 1, WireGuard paper section 6.1). Unreachable in practice: at
 * 10 million packets per second a keypair would need 28 years to get there,
 * and WireGuard replaces every keypair within Reject-After-Time (180 s).
 */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

/** Counters at or above this are never accepted. */
const COUNTER_LIMIT = Math.min(REJECT_AFTER_MESSAGES, MAX_COUNTER + 1);

const WORD_BITS = 32;
// The ring index is taken from the low 32 bits of the counter, which is exact
// as long as the ring has at most 2^27 words (2^32 bits).
const MAX_RING_WORDS = 2 ** 27;

export class ReplayWindow {
  /** A counter c is inside the window when highest - c < windowSize. */
  readonly windowSize: number;
  private readonly ring: Uint32Array;
  private readonly wordMask: number;
  /** The highest counter accepted so far (0 also before the first one). */
  private last = 0;

  constructor(windowSize: number = REPLAY_WINDOW_SIZE) {
    if (!Number.isInteger(windowSize) || windowSize < 1 || windowSize > (MAX_RING_WORDS - 1) * WORD_BITS) {
      throw new RangeError(`replay window must be an integer from 1 to ${(MAX_RING_WORDS - 1) * WORD_BITS}`);
    }
    this.windowSize = windowSize;
    // Enough words for the window plus the partly filled word of the highest
    // counter, rounded up to a power of two so that the index is a mask.
    let words = 1;
    while (words < Math.ceil(windowSize / WORD_BITS) + 1) words *= 2;
    this.ring = new Uint32Array(words);
    this.wordMask = words - 1;
  }

  /**
   * Returns true, and records the counter, if it has not been seen and is
   * inside the window; false for a duplicate, a counter too old, or one beyond
   * the limits (negative, not an integer, >= RejectAfterMessages or > 2^53 - 1).
   */
  accept(counter: number): boolean {
    if (!Number.isInteger(counter) || counter < 0 || counter >= COUNTER_LIMIT) return false;
    if (counter > this.last) {
      // Slide forward: clear the words that now hold counters never seen
      // (all of them at most, however far the jump).
      const lastWord = Math.floor(this.last / WORD_BITS);
      const steps = Math.min(Math.floor(counter / WORD_BITS) - lastWord, this.ring.length);
      // (x >>> 5) is the word index of the low 32 bits of x; the ring size
      // divides 2^27, so it selects the same ring slot as the full counter.
      const base = this.last >>> 5;
      for (let i = 1; i <= steps; i++) this.ring[(base + i) & this.wordMask] = 0;
      this.last = counter;
    } else if (this.last - counter >= this.windowSize) {
      return false; // too old
    }
    const index = (counter >>> 5) & this.wordMask;
    const bit = 1 << (counter & 31);
    const word = this.ring[index]!;
    if ((word & bit) !== 0) return false; // seen
    this.ring[index] = word | bit;
    return true;
  }

  /** Forgets every counter (for a new keypair). */
  reset(): void {
    this.ring.fill(0);
    this.last = 0;
  }
}
