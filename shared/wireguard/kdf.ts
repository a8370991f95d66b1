// Noise's HKDF over HMAC-BLAKE2s (from the BLAKE2s backend given: OpenSSL's
// through the addon, or one built from HMAC), and the chaining-key / hash
// mixing of the Noise symmetric state (Noise spec revision 34, sections 4.3
// and 5.2; WireGuard paper section 5.4). Pure functions over byte arrays; the
// handshake passes its identity's backend, the default is nodeBlake2s.

import { hash, hkdf, KEY_LEN, nodeBlake2s, type Blake2sBackend } from './crypto.js';

/** HKDF with one output: T1 = HMAC(HMAC(key, input), 0x1). */
export function kdf1(key: Uint8Array, input: Uint8Array, blake: Blake2sBackend = nodeBlake2s): Uint8Array {
  return hkdf(key, input, 1, blake);
}

/**
 * HKDF with two outputs (T1, T2 = HMAC(prk, T1 || 0x2)): views of one array,
 * so wiping both wipes it all.
 */
export function kdf2(
  key: Uint8Array,
  input: Uint8Array,
  blake: Blake2sBackend = nodeBlake2s,
): [Uint8Array, Uint8Array] {
  const t = hkdf(key, input, 2, blake);
  return [t.subarray(0, KEY_LEN), t.subarray(KEY_LEN)];
}

/** HKDF with three outputs (T1, T2, T3 = HMAC(prk, T2 || 0x3)), views of one array like kdf2's. */
export function kdf3(
  key: Uint8Array,
  input: Uint8Array,
  blake: Blake2sBackend = nodeBlake2s,
): [Uint8Array, Uint8Array, Uint8Array] {
  const t = hkdf(key, input, 3, blake);
  return [t.subarray(0, KEY_LEN), t.subarray(KEY_LEN, 2 * KEY_LEN), t.subarray(2 * KEY_LEN)];
}

/** MixHash: h = HASH(h || data). */
export function mixHash(h: Uint8Array, data: Uint8Array, blake: Blake2sBackend = nodeBlake2s): Uint8Array {
  return hash(h, data, blake);
}

/** MixKey: ck, k = HKDF(ck, input). Returns [newChainingKey, key]. */
export function mixKey(
  chainingKey: Uint8Array,
  input: Uint8Array,
  blake: Blake2sBackend = nodeBlake2s,
): [Uint8Array, Uint8Array] {
  return kdf2(chainingKey, input, blake);
}

/** The initial chaining key and hash for a protocol name and prologue (Noise section 5.2). */
export function initialState(
  protocolName: string,
  prologue: Uint8Array,
  blake: Blake2sBackend = nodeBlake2s,
): { chainingKey: Uint8Array; hash: Uint8Array } {
  const name = new TextEncoder().encode(protocolName);
  const chainingKey = name.length <= KEY_LEN ? padTo(name, KEY_LEN) : hash(name, null, blake);
  return { chainingKey, hash: mixHash(chainingKey, prologue, blake) };
}

function padTo(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(bytes);
  return out;
}
