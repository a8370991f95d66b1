// For tests that a message holds no key material: every 16-character piece of
// a key (96 bits); a message holding any of them holds too much of the key.

export function keyPieces(key: string): string[] {
  const pieces: string[] = [];
  for (let i = 0; i + 16 <= key.length; i++) pieces.push(key.slice(i, i + 16));
  return pieces;
}

/** The first piece of `key` found in `text`, or undefined. */
export function keyPieceIn(text: string, key: string): string | undefined {
  return keyPieces(key).find((piece) => text.includes(piece));
}

/**
 * Whether `bytes` lie anywhere in Node's current shared Buffer pool (the 8 KiB
 * slab small Buffer.from / allocUnsafe allocations come from).
 */
export function inSharedPool(bytes: Uint8Array): boolean {
  const pool = Buffer.from('x').buffer; // a one-byte allocation: a slice of the pool
  if (pool.byteLength !== Buffer.poolSize) throw new Error('not a pooled allocation');
  return Buffer.from(pool).indexOf(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)) >= 0;
}
