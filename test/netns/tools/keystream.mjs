// The content the transfer tools (xfer.mjs, http-server.mjs) send and check: the
// AES-128-CTR keystream of a seed, so any corrupted, dropped or reordered byte
// shows. Also imported by the namespace tests (types in keystream.d.mts).

import { createCipheriv, createHash } from 'node:crypto';

/** Largest piece the tools read from a stream at once. */
export const CHUNK = 64 * 1024;
/** What a seed may be: it travels in space-separated headers and URLs. */
export const SEED_PATTERN = /^[A-Za-z0-9._:=+-]{1,128}$/;
const ZEROS = Buffer.alloc(CHUNK);

/** The byte stream of a seed; next(n) returns the following n bytes. */
export class Keystream {
  constructor(seed) {
    const key = createHash('sha256').update(`meshgate-xfer:${seed}`).digest().subarray(0, 16);
    this.cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  }
  next(n) {
    if (n <= CHUNK) return this.cipher.update(ZEROS.subarray(0, n));
    return this.cipher.update(Buffer.alloc(n));
  }
}

/** SHA-256 (hex) of the first `bytes` bytes of a seed's stream. */
export function streamSha256(bytes, seed) {
  const stream = new Keystream(seed);
  const hash = createHash('sha256');
  for (let left = bytes; left > 0;) {
    const n = Math.min(CHUNK, left);
    hash.update(stream.next(n));
    left -= n;
  }
  return hash.digest('hex');
}
