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
