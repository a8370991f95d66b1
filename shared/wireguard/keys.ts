// Curve25519 keys in WireGuard's text form: 32 bytes as standard base64 with
// padding (44 characters), exactly as `wg genkey`, `wg pubkey` and
// `wg genpsk` print them, so keys move freely between meshgate and wg tools.
//
// A key's bytes live in memory of their own: decoded straight into a 32-byte
// ArrayBuffer, never through Node's shared Buffer pool (Buffer.from(text,
// 'base64') takes small buffers from one 8 KiB slab shared by everything);
// temporaries are zeroed.

import { clampPrivateKey, KEY_LEN, publicKeyOf, wipe, type RandomBytes } from './crypto.js';

const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export class KeyFormatError extends Error {
  override readonly name = 'KeyFormatError';
}

/** Parses a base64 key; `what` names it in the error ("private key", "PublicKey of peer 2"). */
export function parseKey(text: string, what = 'key'): Uint8Array {
  const trimmed = text.trim();
  if (!BASE64_KEY.test(trimmed)) {
    throw new KeyFormatError(`${what} is not a WireGuard key (44 characters of base64, ending in '=')`);
  }
  const key = new Uint8Array(KEY_LEN);
  const written = Buffer.from(key.buffer, 0, KEY_LEN).write(trimmed, 'base64');
  if (written !== KEY_LEN) {
    wipe(key);
    throw new KeyFormatError(`${what} does not decode to 32 bytes`);
  }
  return key;
}

export function formatKey(key: Uint8Array): string {
  if (key.length !== KEY_LEN) throw new RangeError('a key is 32 bytes');
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString('base64');
}

/** A new private key, clamped as `wg genkey` does. */
export function generatePrivateKeyText(random: RandomBytes): string {
  const key = freshKey(random);
  clampPrivateKey(key);
  const text = formatKey(key);
  wipe(key);
  return text;
}

/** `wg pubkey`: the public key of a private key, both in text form. */
export function publicKeyText(privateKeyText: string): string {
  const key = parseKey(privateKeyText, 'private key');
  try {
    return formatKey(publicKeyOf(key));
  } finally {
    wipe(key);
  }
}

/** `wg genpsk`: 32 random bytes, unclamped. */
export function generatePresharedKeyText(random: RandomBytes): string {
  const key = freshKey(random);
  const text = formatKey(key);
  wipe(key);
  return text;
}

/** 32 random bytes in memory of their own; the source's bytes are zeroed. */
function freshKey(random: RandomBytes): Uint8Array {
  const bytes = random(KEY_LEN);
  if (bytes.length !== KEY_LEN) throw new RangeError('random source gave a wrong length');
  const key = new Uint8Array(KEY_LEN);
  key.set(bytes);
  wipe(bytes);
  return key;
}
