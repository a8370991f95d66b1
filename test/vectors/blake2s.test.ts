// BLAKE2s (RFC 7693), keyed BLAKE2s (the BLAKE2 reference KAT), WireGuard's
// 16-byte MAC, and HMAC-BLAKE2s against OpenSSL, once per backend the core can
// use: @noble/hashes with node:crypto's HMAC, and the meshgate_aead addon
// (OpenSSL), which `npm ci` builds and so must be there on Linux. Sources: README.md.

import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { describe, expect, it } from 'vitest';
import { loadNativeCrypto } from '../../shared/io/native-aead.js';
import {
  hash as hashWith,
  KEY_LEN,
  mac as macWith,
  MAC_LEN,
  nodeBlake2s,
  type Blake2sBackend,
} from '../../shared/wireguard/crypto.js';
import { forEachBackend, itLoadsOnLinux, underTest, withAddon } from './backends.js';
import { toHex } from './hex.js';

/** The backend under test (crypto.ts takes it as a parameter; default @noble + node:crypto). */
const under = underTest<Blake2sBackend>(nodeBlake2s);
const hash = (a: Uint8Array, b: Uint8Array | null = null) => hashWith(a, b, under.current);
/** HMAC-BLAKE2s(key, a || b) (RFC 2104 with BLAKE2s-256), as the Noise KDF uses it. */
const hmac = (key: Uint8Array, a: Uint8Array, b: Uint8Array | null = null) => {
  const out = new Uint8Array(KEY_LEN);
  under.current.hmac(key, a, b, out);
  return out;
};
const mac = (key: Uint8Array, data: Uint8Array) => macWith(key, data, under.current);

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Bytes 00 01 02 ... (n - 1), the inputs of the BLAKE2 KAT. */
function sequence(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => i);
}

const native = loadNativeCrypto()?.blake2s ?? null;
const BACKENDS = withAddon<Blake2sBackend>('@noble/hashes + node:crypto HMAC', nodeBlake2s, native);

itLoadsOnLinux('the meshgate_aead addon with BLAKE2s is built and loads (Linux)', native);

forEachBackend('BLAKE2s from %s', BACKENDS, under, (backend) => {
  it('is the backend in use', () => {
    expect(under.current.name).toBe(backend.name);
  });

  describe('RFC 7693 appendix B: BLAKE2s-256("abc")', () => {
    const expected = '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982';
    it('hash() matches', () => {
      expect(toHex(hash(ascii('abc')))).toBe(expected);
    });
    it('hash() over two parts hashes their concatenation', () => {
      expect(toHex(hash(ascii('a'), ascii('bc')))).toBe(expected);
      expect(toHex(hash(ascii(''), ascii('abc')))).toBe(expected);
      expect(toHex(hash(ascii('abc'), ascii('')))).toBe(expected);
    });
  });

  describe('BLAKE2 reference KAT: keyed BLAKE2s-256, key 00 01 .. 1f', () => {
    // (input length, expected) for input 00 01 .. (length - 1). Across the
    // block size (64 bytes) on purpose.
    const kat: [number, string][] = [
      [0, '48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49'],
      [1, '40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1'],
      [2, '6bb71300644cd3991b26ccd4d274acd1adeab8b1d7914546c1198bbe9fc9d803'],
      [3, '1d220dbe2ee134661fdf6d9e74b41704710556f2f6e5a091b227697445dbea6b'],
      [31, 'b6156f72d380ee9ea6acd190464f2307a5c179ef01fd71f99f2d0f7a57360aea'],
      [32, 'c03bc642b20959cbe133a0303e0c1abff3e31ec8e1a328ec8565c36decff5265'],
      [33, '2c3e08176f760c6264c3a2cd66fec6c3d78de43fc192457b2a4a660a1e0eb22b'],
      [63, 'c65382513f07460da39833cb666c5ed82e61b9e998f4b0c4287cee56c3cc9bcd'],
      [64, '8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4'],
      [65, '21fe0ceb0052be7fb0f004187cacd7de67fa6eb0938d927677f2398c132317a8'],
    ];
    const key = sequence(32);

    it.each(kat)('input of %d bytes (@noble/hashes, 32-byte output)', (length, expected) => {
      expect(toHex(blake2s(sequence(length), { key, dkLen: 32 }))).toBe(expected);
    });

    it('mac() is BLAKE2s with a 16-byte output length, not the 32-byte digest truncated', () => {
      for (const [length, expected32] of kat) {
        const m = mac(key, sequence(length));
        expect(m.length).toBe(MAC_LEN);
        expect(toHex(m)).toBe(toHex(blake2s(sequence(length), { key, dkLen: 16 })));
        // The output length is a parameter of BLAKE2 (RFC 7693 section 2.5), so
        // the 16-byte digest differs from the first half of the 32-byte one.
        expect(toHex(m)).not.toBe(expected32.slice(0, 32));
      }
    });
  });

  describe('mac() equals keyed BLAKE2s-128 from @noble/hashes', () => {
    it('on random keys (16 and 32 bytes, as MAC1 and MAC2 use) and messages', () => {
      for (let i = 0; i < 200; i++) {
        const key = Uint8Array.from(randomBytes(i % 2 === 0 ? 32 : 16));
        const data = Uint8Array.from(randomBytes(randomInt(0, 400)));
        expect(toHex(mac(key, data))).toBe(toHex(blake2s(data, { key, dkLen: 16 })));
      }
    });
  });

  describe('hmac() equals OpenSSL HMAC-BLAKE2s-256 (node:crypto)', () => {
    it('on random keys (including ones longer than the 64-byte block) and messages', () => {
      for (let i = 0; i < 300; i++) {
        const key = Uint8Array.from(randomBytes(i < 10 ? i : randomInt(0, 130)));
        const a = Uint8Array.from(randomBytes(randomInt(0, 300)));
        const b = Uint8Array.from(randomBytes(randomInt(0, 3)));
        const expected = createHmac('blake2s256', key).update(a).update(b).digest('hex');
        expect(toHex(hmac(key, a, b))).toBe(expected);
      }
    });
  });
});

describe('the addon refuses bad BLAKE2s arguments', () => {
  it.skipIf(native === null)('wrong output sizes and MAC keys longer than 32 bytes throw', () => {
    const n = native!;
    const data = new Uint8Array(10);
    expect(() => n.hash(data, null, new Uint8Array(16))).toThrow(TypeError);
    expect(() => n.hmac(data, data, null, new Uint8Array(33))).toThrow(TypeError);
    expect(() => n.mac(new Uint8Array(33), data, new Uint8Array(16))).toThrow(RangeError);
    expect(() => n.mac(new Uint8Array(0), data, new Uint8Array(16))).toThrow(RangeError);
    expect(() => n.mac(new Uint8Array(32), data, new Uint8Array(32))).toThrow(TypeError);
  });
});
