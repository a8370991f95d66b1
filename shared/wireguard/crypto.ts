// The cryptographic primitives of WireGuard, as backends injected like the
// random source: a daemon passes the meshgate_aead addon's (OpenSSL, from
// shared/io/native-aead.ts) in DeviceOptions.crypto, and the device hands it
// down (StaticIdentity.crypto for the handshake, the keypairs' AEAD, the
// cookies); everything else gets nodeCrypto. No module-level state picks one.
// Nothing here is hand-written crypto:
//
//   X25519 (RFC 7748)                OpenSSL: the addon (raw keys), or node:crypto (JWK import)
//   ChaCha20-Poly1305 (RFC 8439)     OpenSSL: the addon (no per-packet object), or node:crypto
//   XChaCha20-Poly1305 (cookies)     HChaCha20 from @noble/ciphers (OpenSSL has none), then the
//                                    ChaCha20-Poly1305 above (draft-irtf-cfrg-xchacha-03 section 2.3)
//   BLAKE2s, HMAC-BLAKE2s, keyed     OpenSSL: the addon; or @noble/hashes, and HMAC from
//   BLAKE2s-128 MAC                  node:crypto (which has no keyed BLAKE2s)
//
// @noble/curves' X25519 (a dev dependency) and @noble/ciphers' ChaCha20-Poly1305
// are the references these are checked against in test/vectors. Functions never
// throw on bad input from the network: AEAD opening returns null, a DH with a low-order
// point returns null.

import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { hchacha } from '@noble/ciphers/chacha.js';

export const KEY_LEN = 32; // Curve25519 keys, symmetric keys, hashes
export const TAG_LEN = 16; // Poly1305 tag
export const MAC_LEN = 16; // BLAKE2s-128 MAC1/MAC2
export const AEAD_NONCE_LEN = 12;
export const XAEAD_NONCE_LEN = 24;

/**
 * A source of random bytes; injected so the core stays deterministic in tests.
 * Each call returns a fresh array the caller owns (keys are clamped and wiped in it).
 */
export type RandomBytes = (length: number) => Uint8Array;

/**
 * Where X25519 (RFC 7748) comes from. A private key is imported once into a
 * key object the backend owns; the core keeps it in a PrivateKeyHandle.
 *
 *   importPrivateKey: any 32 bytes (X25519 clamps them itself)
 *   publicKey:        out = X25519(key, 9)
 *   derive:           out = X25519(key, publicKey); false (out then zero or
 *                     garbage, never used) when the result is all zeros, a
 *                     low-order point, or the backend refuses the point
 *   release:          forget the key now where the backend can (its copy of
 *                     the private key is cleansed); a released key is not used again
 */
export interface X25519Backend {
  readonly name: string;
  importPrivateKey(privateKey: Uint8Array): unknown;
  publicKey(key: unknown, out: Uint8Array): void;
  derive(key: unknown, publicKey: Uint8Array, out: Uint8Array): boolean;
  release(key: unknown): void;
}

const b64url = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64url');

/**
 * node:crypto, through JWK: raw keys go in as base64url strings, which OpenSSL
 * imports about ten times faster than the DER wrapping (its DER decoder cost
 * ~600 µs per private key on Node 20). For a private key Node reads only `d`
 * (`x` must be a string, and OpenSSL computes the public key itself). The
 * fallback when the meshgate_aead addon is not built; keys are freed by GC.
 */
export const nodeX25519: X25519Backend = {
  name: 'node:crypto',
  importPrivateKey(privateKey) {
    return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(privateKey), x: '' }, format: 'jwk' });
  },
  publicKey(key, out) {
    const jwk = createPublicKey(key as KeyObject).export({ format: 'jwk' });
    out.set(Buffer.from(jwk.x!, 'base64url'));
  },
  derive(key, publicKey, out) {
    let shared: Buffer;
    try {
      const peer = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(publicKey) }, format: 'jwk' });
      shared = diffieHellman({ privateKey: key as KeyObject, publicKey: peer });
    } catch {
      return false; // OpenSSL refuses an all-zero shared secret
    }
    out.set(shared);
    shared.fill(0);
    return !isZero(out);
  },
  release() {
    // a KeyObject cannot be freed early
  },
};

/** A private key imported once for repeated Diffie-Hellman, by the backend that imported it. */
export interface PrivateKeyHandle {
  readonly backend: X25519Backend;
  readonly key: unknown;
}

export function preparePrivateKey(privateKey: Uint8Array, backend: X25519Backend = nodeX25519): PrivateKeyHandle {
  if (privateKey.length !== KEY_LEN) throw new RangeError('private key must be 32 bytes');
  return { backend, key: backend.importPrivateKey(privateKey) };
}

/** Frees the backend's copy of a prepared private key where it can; the handle is not used again. */
export function releasePrivateKey(handle: PrivateKeyHandle | null | undefined): void {
  if (handle) handle.backend.release(handle.key);
}

/** X25519 public key of a private key: X25519(k, 9), RFC 7748 section 6.1 (a handle uses its own backend). */
export function publicKeyOf(
  privateKey: PrivateKeyHandle | Uint8Array,
  backend: X25519Backend = nodeX25519,
): Uint8Array {
  const handle = privateKey instanceof Uint8Array ? preparePrivateKey(privateKey, backend) : privateKey;
  const pub = new Uint8Array(KEY_LEN);
  handle.backend.publicKey(handle.key, pub);
  if (handle !== privateKey) releasePrivateKey(handle);
  return pub;
}

/**
 * X25519(private, public). Returns null when the result is all zeros (a
 * low-order public key), which WireGuard treats as a failed handshake. A
 * handle uses the backend that imported it; raw bytes use `backend`.
 */
export function dh(
  privateKey: PrivateKeyHandle | Uint8Array,
  publicKey: Uint8Array,
  backend: X25519Backend = nodeX25519,
): Uint8Array | null {
  if (publicKey.length !== KEY_LEN) return null;
  const handle = privateKey instanceof Uint8Array ? preparePrivateKey(privateKey, backend) : privateKey;
  const shared = new Uint8Array(KEY_LEN);
  const ok = handle.backend.derive(handle.key, publicKey, shared);
  if (handle !== privateKey) releasePrivateKey(handle);
  if (ok) return shared;
  shared.fill(0);
  return null;
}

/**
 * Clamped random private key (RFC 7748 section 5, as `wg genkey` does). The
 * array `random` returned is the key (clamped in place, not copied), so that
 * wiping the key leaves no copy behind.
 */
export function generatePrivateKey(random: RandomBytes): Uint8Array {
  const key = random(KEY_LEN);
  if (key.length !== KEY_LEN) throw new RangeError('random source returned the wrong length');
  clampPrivateKey(key);
  return key;
}

export function clampPrivateKey(key: Uint8Array): void {
  key[0]! &= 248;
  key[31]! &= 127;
  key[31]! |= 64;
}

/**
 * Where BLAKE2s comes from (WireGuard paper section 5.4: HASH, HMAC, MAC).
 * Each writes its result into `out` (32 bytes; 16 for mac); `b` may be null.
 *
 *   hash: BLAKE2s-256(a || b)
 *   hmac: HMAC-BLAKE2s-256(key, a || b) (RFC 2104)
 *   mac:  keyed BLAKE2s with a 16-byte output (key 1 to 32 bytes)
 *   hkdf: out = T1 || .. || Tn (n = 1 to 3, out.length = 32n): Noise's HKDF
 *         (RFC 5869 over HMAC-BLAKE2s, salt `key`, IKM `input`, empty info;
 *         Noise spec section 4.3)
 */
export interface Blake2sBackend {
  readonly name: string;
  hash(a: Uint8Array, b: Uint8Array | null, out: Uint8Array): void;
  hmac(key: Uint8Array, a: Uint8Array, b: Uint8Array | null, out: Uint8Array): void;
  mac(key: Uint8Array, data: Uint8Array, out: Uint8Array): void;
  hkdf(key: Uint8Array, input: Uint8Array, out: Uint8Array): void;
}

const HKDF_COUNTERS = [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)];

/** Noise's HKDF from a backend's HMAC: T0 empty, Ti = HMAC(HMAC(key, input), Ti-1 || i). */
function hkdfFromHmac(backend: Blake2sBackend, key: Uint8Array, input: Uint8Array, out: Uint8Array): void {
  const n = out.length / KEY_LEN;
  if (!Number.isInteger(n) || n < 1 || n > HKDF_COUNTERS.length) throw new RangeError('HKDF gives 1 to 3 keys');
  const prk = new Uint8Array(KEY_LEN);
  backend.hmac(key, input, null, prk);
  for (let i = 0; i < n; i++) {
    const previous = i === 0 ? new Uint8Array(0) : out.subarray((i - 1) * KEY_LEN, i * KEY_LEN);
    backend.hmac(prk, previous, HKDF_COUNTERS[i]!, out.subarray(i * KEY_LEN, (i + 1) * KEY_LEN));
  }
  prk.fill(0);
}

/**
 * @noble/hashes, and OpenSSL's HMAC through node:crypto (about 2.5 times as
 * fast here as @noble's). OpenSSL has keyed BLAKE2s, but node:crypto does not
 * offer it.
 */
export const nodeBlake2s: Blake2sBackend = {
  name: '@noble/hashes + node:crypto HMAC',
  hash(a, b, out) {
    const h = blake2s.create().update(a);
    if (b !== null) h.update(b);
    h.digestInto(out);
  },
  hmac(key, a, b, out) {
    const h = createHmac('blake2s256', key).update(a);
    if (b !== null) h.update(b);
    const digest = h.digest();
    out.set(digest);
    digest.fill(0);
  },
  mac(key, data, out) {
    blake2s.create({ key, dkLen: MAC_LEN }).update(data).digestInto(out);
  },
  hkdf(key, input, out) {
    hkdfFromHmac(nodeBlake2s, key, input, out);
  },
};

/** BLAKE2s-256(a || b). */
export function hash(a: Uint8Array, b: Uint8Array | null = null, blake: Blake2sBackend = nodeBlake2s): Uint8Array {
  const out = new Uint8Array(KEY_LEN);
  blake.hash(a, b, out);
  return out;
}

/** Keyed BLAKE2s with a 16-byte output: WireGuard's MAC function. */
export function mac(key: Uint8Array, data: Uint8Array, blake: Blake2sBackend = nodeBlake2s): Uint8Array {
  const out = new Uint8Array(MAC_LEN);
  blake.mac(key, data, out);
  return out;
}

/** Noise's HKDF with `outputs` 32-byte keys, in one array (T1 || T2 || T3). */
export function hkdf(
  key: Uint8Array,
  input: Uint8Array,
  outputs: 1 | 2 | 3,
  blake: Blake2sBackend = nodeBlake2s,
): Uint8Array {
  const out = new Uint8Array(KEY_LEN * outputs);
  blake.hkdf(key, input, out);
  return out;
}

/** WireGuard's 96-bit nonce: 32 zero bits, then the 64-bit counter little-endian. */
export function writeNonce(nonce: Uint8Array, counter: number): void {
  nonce.fill(0, 0, 4);
  const lo = counter >>> 0;
  const hi = Math.floor(counter / 0x1_0000_0000) >>> 0;
  nonce[4] = lo & 0xff;
  nonce[5] = (lo >>> 8) & 0xff;
  nonce[6] = (lo >>> 16) & 0xff;
  nonce[7] = lo >>> 24;
  nonce[8] = hi & 0xff;
  nonce[9] = (hi >>> 8) & 0xff;
  nonce[10] = (hi >>> 16) & 0xff;
  nonce[11] = hi >>> 24;
}

/**
 * Where ChaCha20-Poly1305 (RFC 8439 section 2.8) comes from. Both write into
 * the caller's buffer, which may be the input's own bytes (in place) or apart
 * from them, never partly overlapping.
 *
 *   seal: out[outOffset ..] = ciphertext || tag; returns its length
 *   open: out[outOffset ..] = plaintext; returns its length, or -1 when the
 *         tag does not verify (out may then hold garbage)
 */
export interface AeadBackend {
  readonly name: string;
  seal(
    key: Uint8Array,
    nonce: Uint8Array,
    ad: Uint8Array | null,
    plaintext: Uint8Array,
    out: Uint8Array,
    outOffset: number,
  ): number;
  open(
    key: Uint8Array,
    nonce: Uint8Array,
    ad: Uint8Array | null,
    sealed: Uint8Array,
    out: Uint8Array,
    outOffset: number,
  ): number;
}

/** node:crypto: a Cipheriv object per call. Always there; the reference for the addon's backend. */
export const nodeAead: AeadBackend = {
  name: 'node:crypto',
  seal(key, nonce, ad, plaintext, out, outOffset) {
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
    if (ad !== null && ad.length > 0) cipher.setAAD(ad, { plaintextLength: plaintext.length });
    const body = cipher.update(plaintext);
    cipher.final();
    out.set(body, outOffset);
    out.set(cipher.getAuthTag(), outOffset + body.length);
    return body.length + TAG_LEN;
  },
  open(key, nonce, ad, sealed, out, outOffset) {
    if (sealed.length < TAG_LEN) return -1;
    const bodyLen = sealed.length - TAG_LEN;
    try {
      const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
      decipher.setAuthTag(sealed.subarray(bodyLen));
      if (ad !== null && ad.length > 0) decipher.setAAD(ad, { plaintextLength: bodyLen });
      const plain = decipher.update(sealed.subarray(0, bodyLen));
      decipher.final(); // throws when the tag is wrong
      out.set(plain, outOffset);
      return bodyLen;
    } catch {
      return -1;
    }
  },
};

/** The primitives a Device uses: ChaCha20-Poly1305, X25519, BLAKE2s. */
export interface CryptoBackend {
  readonly aead: AeadBackend;
  readonly x25519: X25519Backend;
  readonly blake2s: Blake2sBackend;
}

/** node:crypto and @noble: always there, and the default wherever no backend is given. */
export const nodeCrypto: CryptoBackend = { aead: nodeAead, x25519: nodeX25519, blake2s: nodeBlake2s };

/** Seals into a new array: ciphertext||tag. */
export function aeadSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array | null,
  aead: AeadBackend = nodeAead,
): Uint8Array {
  const out = new Uint8Array(plaintext.length + TAG_LEN);
  aead.seal(key, nonce, ad, plaintext, out, 0);
  return out;
}

/** Opens `sealed` into a new array; null when the tag does not verify. */
export function aeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  ad: Uint8Array | null,
  aead: AeadBackend = nodeAead,
): Uint8Array | null {
  if (sealed.length < TAG_LEN) return null;
  const out = new Uint8Array(sealed.length - TAG_LEN);
  return aead.open(key, nonce, ad, sealed, out, 0) < 0 ? null : out;
}

/** The all-zero nonce the handshake uses (each handshake key encrypts once). */
export const ZERO_NONCE: Uint8Array = new Uint8Array(AEAD_NONCE_LEN);

// XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03, section 2.3): HChaCha20 turns
// the key and the first 16 nonce bytes into a subkey, which seals with
// ChaCha20-Poly1305 under the nonce 0x00000000 || the last 8 nonce bytes. Only
// HChaCha20 comes from @noble; the AEAD is the backend's (OpenSSL on a daemon),
// so a cookie reply costs one ChaCha block in JavaScript, not a whole AEAD.

/** "expand 32-byte k" as four little-endian words (RFC 8439 section 2.3). */
const CHACHA_SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const hKey = new Uint32Array(8);
const hNonce = new Uint32Array(4);
const hOut = new Uint32Array(8);
const hOutBytes = new Uint8Array(hOut.buffer);
const xNonce = new Uint8Array(AEAD_NONCE_LEN);

/** Subkey and nonce for ChaCha20-Poly1305 from an XChaCha key and 24-byte nonce (in module scratch). */
function xchachaSubkey(key: Uint8Array, nonce: Uint8Array): Uint8Array {
  if (key.length !== KEY_LEN || nonce.length !== XAEAD_NONCE_LEN)
    throw new RangeError('XChaCha: bad key or nonce length');
  if (!LITTLE_ENDIAN) throw new RangeError('XChaCha: big-endian hosts are not supported');
  new Uint8Array(hKey.buffer).set(key);
  new Uint8Array(hNonce.buffer).set(nonce.subarray(0, 16));
  hchacha(CHACHA_SIGMA, hKey, hNonce, hOut);
  hKey.fill(0);
  xNonce.fill(0, 0, 4);
  xNonce.set(nonce.subarray(16, 24), 4);
  return hOutBytes;
}

/** Runs `use` with the subkey (and xNonce) of `key` and `nonce`, then wipes the subkey. */
function withSubkey<T>(key: Uint8Array, nonce: Uint8Array, use: (subkey: Uint8Array) => T): T {
  const subkey = xchachaSubkey(key, nonce);
  try {
    return use(subkey);
  } finally {
    subkey.fill(0);
  }
}

/** XChaCha20-Poly1305 seal, used for cookie replies. Returns ciphertext||tag. */
export function xaeadSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
  aead: AeadBackend = nodeAead,
): Uint8Array {
  return withSubkey(key, nonce, (subkey) => aeadSeal(subkey, xNonce, plaintext, ad, aead));
}

export function xaeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  ad: Uint8Array,
  aead: AeadBackend = nodeAead,
): Uint8Array | null {
  if (key.length !== KEY_LEN || nonce.length !== XAEAD_NONCE_LEN) return null;
  return withSubkey(key, nonce, (subkey) => aeadOpen(subkey, xNonce, sealed, ad, aead));
}

/** Constant-time equality of two byte strings (length is not secret). */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

export function isZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}

/** Overwrite secret material that is no longer needed. */
export function wipe(...buffers: (Uint8Array | null | undefined)[]): void {
  for (const b of buffers) b?.fill(0);
}
