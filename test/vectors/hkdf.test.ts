// kdf.ts against an independent HKDF (RFC 5869 extract and expand with an
// empty info string, as the Noise spec section 4.3 uses it), built on OpenSSL's
// HMAC-BLAKE2s rather than on crypto.ts, once per BLAKE2s backend the core can
// use (HKDF built from node:crypto's HMAC; OpenSSL's HKDF through the addon).

import { createHash, createHmac, randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadNativeCrypto } from '../../shared/io/native-aead.js';
import { nodeBlake2s, type Blake2sBackend } from '../../shared/wireguard/crypto.js';
import * as kdf from '../../shared/wireguard/kdf.js';
import { forEachBackend, underTest, withAddon } from './backends.js';
import { toHex } from './hex.js';

/** The backend under test (kdf.ts takes it as a parameter; default @noble + node:crypto HMAC). */
const under = underTest<Blake2sBackend>(nodeBlake2s);
const kdf1 = (key: Uint8Array, input: Uint8Array) => kdf.kdf1(key, input, under.current);
const kdf2 = (key: Uint8Array, input: Uint8Array) => kdf.kdf2(key, input, under.current);
const kdf3 = (key: Uint8Array, input: Uint8Array) => kdf.kdf3(key, input, under.current);
const mixKey = (key: Uint8Array, input: Uint8Array) => kdf.mixKey(key, input, under.current);
const mixHash = (h: Uint8Array, data: Uint8Array) => kdf.mixHash(h, data, under.current);
const initialState = (name: string, prologue: Uint8Array) => kdf.initialState(name, prologue, under.current);

function hmacBlake2s(key: Uint8Array, data: Uint8Array): Uint8Array {
  return Uint8Array.from(createHmac('blake2s256', key).update(data).digest());
}

/** RFC 5869 section 2.2: PRK = HMAC(salt, IKM). Noise passes the chaining key as the salt. */
function extract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return hmacBlake2s(salt, ikm);
}

/** RFC 5869 section 2.3 with empty info: T(i) = HMAC(PRK, T(i - 1) | i). */
function expand(prk: Uint8Array, count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let previous: Uint8Array = new Uint8Array(0);
  for (let i = 1; i <= count; i++) {
    previous = hmacBlake2s(prk, new Uint8Array([...previous, i]));
    out.push(previous);
  }
  return out;
}

function hkdf(key: Uint8Array, input: Uint8Array, count: number): string[] {
  return expand(extract(key, input), count).map(toHex);
}

const native = loadNativeCrypto()?.blake2s ?? null;
const BACKENDS = withAddon<Blake2sBackend>('@noble/hashes + node:crypto HMAC', nodeBlake2s, native);

forEachBackend('with BLAKE2s from %s', BACKENDS, under, (backend) => {
  describe('kdf1 / kdf2 / kdf3 equal an independent HKDF over HMAC-BLAKE2s', () => {
    it('on random chaining keys and inputs (empty, 32 bytes and odd sizes)', () => {
      for (let i = 0; i < 200; i++) {
        const key = Uint8Array.from(randomBytes(32));
        const inputLength = [0, 32, randomInt(1, 200)][i % 3]!;
        const input = Uint8Array.from(randomBytes(inputLength));
        const want = hkdf(key, input, 3);
        expect([toHex(kdf1(key, input))]).toEqual(want.slice(0, 1));
        expect(kdf2(key, input).map(toHex)).toEqual(want.slice(0, 2));
        expect(kdf3(key, input).map(toHex)).toEqual(want);
        expect(mixKey(key, input).map(toHex)).toEqual(want.slice(0, 2));
      }
    });

    it('does not modify its inputs', () => {
      const key = Uint8Array.from(randomBytes(32));
      const input = Uint8Array.from(randomBytes(32));
      const keyCopy = toHex(key);
      const inputCopy = toHex(input);
      kdf3(key, input);
      expect(toHex(key)).toBe(keyCopy);
      expect(toHex(input)).toBe(inputCopy);
    });
  });

  it('refuses more than three outputs', () => {
    expect(() => backend.hkdf(new Uint8Array(32), new Uint8Array(0), new Uint8Array(128))).toThrow();
    expect(() => backend.hkdf(new Uint8Array(32), new Uint8Array(0), new Uint8Array(31))).toThrow();
  });
});

describe('mixHash and initialState (Noise section 5.2)', () => {
  const blake2s = (...parts: Uint8Array[]): string => {
    const h = createHash('blake2s256');
    for (const p of parts) h.update(p);
    return h.digest('hex');
  };

  it('mixHash(h, data) = BLAKE2s(h || data)', () => {
    const h = Uint8Array.from(randomBytes(32));
    const data = Uint8Array.from(randomBytes(77));
    expect(toHex(mixHash(h, data))).toBe(blake2s(h, data));
  });

  it('a name longer than 32 bytes is hashed; a shorter one is zero-padded', () => {
    const prologue = new TextEncoder().encode('WireGuard v1 zx2c4 Jason@zx2c4.com');
    const long = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s'; // 37 bytes
    const s = initialState(long, prologue);
    const ck = blake2s(new TextEncoder().encode(long));
    expect(toHex(s.chainingKey)).toBe(ck);
    expect(toHex(s.hash)).toBe(blake2s(Buffer.from(ck, 'hex'), prologue));

    const short = 'Noise_NN_25519_ChaChaPoly_BLAKE2s'; // 33 bytes: still hashed
    expect(toHex(initialState(short, prologue).chainingKey)).toBe(blake2s(new TextEncoder().encode(short)));
    const tiny = 'Noise_NN_448_AESGCM_SHA256'; // 26 bytes: padded
    const padded = new Uint8Array(32);
    padded.set(new TextEncoder().encode(tiny));
    expect(toHex(initialState(tiny, prologue).chainingKey)).toBe(toHex(padded));
  });
});
