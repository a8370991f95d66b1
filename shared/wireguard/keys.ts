// Curve25519 keys in WireGuard's text form: 32 bytes as standard base64 with
// padding (44 characters), exactly as `wg genkey`, `wg pubkey` and
// `wg genpsk` print them, so keys move freely between meshgate and wg tools.

import { clampPrivateKey, KEY_LEN, publicKeyOf, type RandomBytes } from './crypto.js';

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
  const bytes = Buffer.from(trimmed, 'base64');
  if (bytes.length !== KEY_LEN) throw new KeyFormatError(`${what} does not decode to 32 bytes`);
  return new Uint8Array(bytes);
}

export function formatKey(key: Uint8Array): string {
  if (key.length !== KEY_LEN) throw new RangeError('a key is 32 bytes');
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString('base64');
}

/** A new private key, clamped as `wg genkey` does. */
export function generatePrivateKeyText(random: RandomBytes): string {
  const key = Uint8Array.from(random(KEY_LEN));
  clampPrivateKey(key);
  const text = formatKey(key);
  key.fill(0);
  return text;
}

/** `wg pubkey`: the public key of a private key, both in text form. */
export function publicKeyText(privateKeyText: string): string {
  return formatKey(publicKeyOf(parseKey(privateKeyText, 'private key')));
}

/** `wg genpsk`: 32 random bytes, unclamped. */
export function generatePresharedKeyText(random: RandomBytes): string {
  return formatKey(random(KEY_LEN));
}
