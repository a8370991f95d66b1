// The daemons' source of random bytes for the protocol core: OpenSSL's CSPRNG
// (node:crypto randomFillSync), drawn a pool at a time.
//
// Why a pool: the core asks for a few bytes at a time (a 24-byte nonce for each
// cookie reply, a 32-byte ephemeral key per handshake), and each call into
// OpenSSL costs several microseconds of fixed overhead; under a handshake flood
// that was a quarter of the responder's time. Every call still returns a fresh
// array of its own (RandomBytes' contract: the caller owns it, and wipes keys in
// it); the bytes handed out are zeroed in the pool at once, so the pool only
// ever holds bytes nobody has seen yet. The pool is an ArrayBuffer of its own,
// not Node's shared Buffer pool.

import { randomFillSync } from 'node:crypto';
import type { RandomBytes } from '../wireguard/crypto.js';

export const RANDOM_POOL_SIZE = 4096;

/** A RandomBytes over a pool of `size` bytes; requests larger than a quarter of it bypass the pool. */
export function pooledRandom(size = RANDOM_POOL_SIZE): RandomBytes {
  const pool = new Uint8Array(size);
  let used = size; // empty: filled on first use
  return (length: number): Uint8Array => {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`random: bad length ${length}`);
    if (length > size >>> 2) return randomFillSync(new Uint8Array(length));
    if (size - used < length) {
      randomFillSync(pool);
      used = 0;
    }
    const out = pool.slice(used, used + length);
    pool.fill(0, used, used + length);
    used += length;
    return out;
  };
}

/** The one the daemons use. */
export const systemRandom: RandomBytes = pooledRandom();
