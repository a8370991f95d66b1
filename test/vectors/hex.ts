// Hex helpers for the vector tests. Whitespace and colons are ignored, so
// vectors can be pasted in the layout of the document they come from.

export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/[\s:]/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`not hex: ${text.slice(0, 40)}`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}
