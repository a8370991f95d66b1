// Noise's HKDF over HMAC-BLAKE2s, and the chaining-key / hash mixing of the
// Noise symmetric state (Noise spec revision 34, sections 4.3 and 5.2;
// WireGuard paper section 5.4). Pure functions over byte arrays.

import { hash, hmac, KEY_LEN } from './crypto.js';

const ONE = Uint8Array.of(0x01);
const TWO = Uint8Array.of(0x02);
const THREE = Uint8Array.of(0x03);

/** HKDF with one output: T1 = HMAC(HMAC(key, input), 0x1). */
export function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  const prk = hmac(key, input);
  const t1 = hmac(prk, ONE);
  prk.fill(0);
  return t1;
}

/** HKDF with two outputs (T1, T2). */
export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const prk = hmac(key, input);
  const t1 = hmac(prk, ONE);
  const t2 = hmac(prk, t1, TWO);
  prk.fill(0);
  return [t1, t2];
}

/** HKDF with three outputs (T1, T2, T3). */
export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const prk = hmac(key, input);
  const t1 = hmac(prk, ONE);
  const t2 = hmac(prk, t1, TWO);
  const t3 = hmac(prk, t2, THREE);
  prk.fill(0);
  return [t1, t2, t3];
}

/** MixHash: h = HASH(h || data). */
export function mixHash(h: Uint8Array, data: Uint8Array): Uint8Array {
  return hash(h, data);
}

/** MixKey: ck, k = HKDF(ck, input). Returns [newChainingKey, key]. */
export function mixKey(chainingKey: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  return kdf2(chainingKey, input);
}

/** The initial chaining key and hash for a protocol name and prologue (Noise section 5.2). */
export function initialState(
  protocolName: string,
  prologue: Uint8Array,
): { chainingKey: Uint8Array; hash: Uint8Array } {
  const name = new TextEncoder().encode(protocolName);
  const chainingKey = name.length <= KEY_LEN ? padTo(name, KEY_LEN) : hash(name);
  return { chainingKey, hash: mixHash(chainingKey, prologue) };
}

function padTo(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(bytes);
  return out;
}
