// The cryptographic primitives of WireGuard, and the one place that picks
// their implementation. Nothing here is hand-written crypto:
//
//   X25519 (RFC 7748)                node:crypto (OpenSSL), ~30x faster than @noble/curves here
//   ChaCha20-Poly1305 (RFC 8439)     OpenSSL: the meshgate_aead addon on the packet path when
//                                    a daemon installs it (setAeadBackend), else node:crypto
//   XChaCha20-Poly1305 (cookies)     @noble/ciphers (OpenSSL has no XChaCha)
//   BLAKE2s, HMAC-BLAKE2s, keyed     @noble/hashes (OpenSSL has no keyed BLAKE2s)
//   BLAKE2s-128 MAC
//
// The @noble implementations of X25519 and ChaCha20-Poly1305 are the reference
// these are checked against in test/vectors. Functions never throw on bad
// input from the network: AEAD opening returns null, a DH with a low-order
// point returns null.

import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';

export const KEY_LEN = 32; // Curve25519 keys, symmetric keys, hashes
export const TAG_LEN = 16; // Poly1305 tag
export const MAC_LEN = 16; // BLAKE2s-128 MAC1/MAC2
export const AEAD_NONCE_LEN = 12;
export const XAEAD_NONCE_LEN = 24;

/** A source of random bytes; injected so the core stays deterministic in tests. */
export type RandomBytes = (length: number) => Uint8Array;

// DER wrappers that turn raw 32-byte X25519 keys into OpenSSL key objects
// (RFC 8410: PKCS#8 and SubjectPublicKeyInfo with OID 1.3.101.110).
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** A private key prepared once for repeated Diffie-Hellman. */
export interface PrivateKeyHandle {
  readonly object: KeyObject;
}

export function preparePrivateKey(privateKey: Uint8Array): PrivateKeyHandle {
  if (privateKey.length !== KEY_LEN) throw new RangeError('private key must be 32 bytes');
  const der = Buffer.concat([PKCS8_X25519_PREFIX, privateKey]);
  return { object: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }) };
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const der = Buffer.concat([SPKI_X25519_PREFIX, publicKey]);
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

/** The X25519 base point u = 9 (RFC 7748 section 4.1). */
const BASE_POINT = new Uint8Array(KEY_LEN);
BASE_POINT[0] = 9;

/** X25519 public key of a private key: X25519(k, 9), RFC 7748 section 6.1. */
export function publicKeyOf(privateKey: PrivateKeyHandle | Uint8Array): Uint8Array {
  const pub = dh(privateKey, BASE_POINT);
  if (pub === null) throw new RangeError('invalid private key');
  return pub;
}

/** The reference implementation (@noble/curves), for tests. */
export const referenceX25519 = nobleX25519;

/**
 * X25519(private, public). Returns null when the result is all zeros (a
 * low-order public key), which WireGuard treats as a failed handshake.
 */
export function dh(privateKey: PrivateKeyHandle | Uint8Array, publicKey: Uint8Array): Uint8Array | null {
  if (publicKey.length !== KEY_LEN) return null;
  const priv = privateKey instanceof Uint8Array ? preparePrivateKey(privateKey) : privateKey;
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: priv.object, publicKey: publicKeyObject(publicKey) });
  } catch {
    return null; // OpenSSL refuses an all-zero shared secret
  }
  return isZero(shared) ? null : new Uint8Array(shared.buffer, shared.byteOffset, shared.length);
}

/** Clamped random private key (RFC 7748 section 5, as `wg genkey` does). */
export function generatePrivateKey(random: RandomBytes): Uint8Array {
  const key = Uint8Array.from(random(KEY_LEN));
  clampPrivateKey(key);
  return key;
}

export function clampPrivateKey(key: Uint8Array): void {
  key[0]! &= 248;
  key[31]! &= 127;
  key[31]! |= 64;
}

/** BLAKE2s-256 over the concatenation of the parts. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  const h = blake2s.create();
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HMAC-BLAKE2s (RFC 2104 with BLAKE2s-256), as the Noise KDF uses it. */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = nobleHmac.create(blake2s, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Keyed BLAKE2s with a 16-byte output: WireGuard's MAC function. */
export function mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = blake2s.create({ key, dkLen: MAC_LEN });
  for (const p of parts) h.update(p);
  return h.digest();
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

let aead: AeadBackend = nodeAead;

/**
 * Chooses the ChaCha20-Poly1305 implementation for everything below (null:
 * node:crypto). Called once by a daemon's entry point (shared/io/native-aead.ts),
 * before any tunnel runs; the core never loads one.
 */
export function setAeadBackend(backend: AeadBackend | null): void {
  aead = backend ?? nodeAead;
}

/** The name of the ChaCha20-Poly1305 implementation in use (for the daemons' "ready" log line). */
export function aeadBackendName(): string {
  return aead.name;
}

/** Writes ciphertext||tag into `out` at `outOffset` and returns the length written. Nonces come from writeNonce(). */
export function aeadSealInto(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array | null,
  out: Uint8Array,
  outOffset: number,
): number {
  return aead.seal(key, nonce, ad, plaintext, out, outOffset);
}

export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array | null): Uint8Array {
  const out = new Uint8Array(plaintext.length + TAG_LEN);
  aeadSealInto(key, nonce, plaintext, ad, out, 0);
  return out;
}

/**
 * Opens `sealed` (ciphertext||tag) into `out` at `outOffset`; returns the
 * plaintext length, or -1 when the tag does not verify.
 */
export function aeadOpenInto(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  ad: Uint8Array | null,
  out: Uint8Array,
  outOffset: number,
): number {
  return aead.open(key, nonce, ad, sealed, out, outOffset);
}

/** Opens `sealed` into a new array; null when the tag does not verify. */
export function aeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  ad: Uint8Array | null,
): Uint8Array | null {
  if (sealed.length < TAG_LEN) return null;
  const out = new Uint8Array(sealed.length - TAG_LEN);
  return aeadOpenInto(key, nonce, sealed, ad, out, 0) < 0 ? null : out;
}

/** The all-zero nonce the handshake uses (each handshake key encrypts once). */
export const ZERO_NONCE: Uint8Array = new Uint8Array(AEAD_NONCE_LEN);

/** XChaCha20-Poly1305 seal, used for cookie replies. Returns ciphertext||tag. */
export function xaeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  return xchacha20poly1305(key, nonce, ad).encrypt(plaintext);
}

export function xaeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  try {
    return xchacha20poly1305(key, nonce, ad).decrypt(sealed);
  } catch {
    return null;
  }
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
