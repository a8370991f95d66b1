// ChaCha20-Poly1305 (RFC 8439) and XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03)
// through crypto.ts, WireGuard's nonce layout, and a random cross-check
// against @noble/ciphers. The ChaCha20-Poly1305 vectors run once per backend
// the core can use (so do the XChaCha20-Poly1305 ones: HChaCha20 comes from
// @noble, the AEAD after it from the backend): node:crypto and the meshgate_aead addon (OpenSSL), which
// `npm ci` builds and so must be there on Linux. Sources: README.md.

import { randomBytes, randomInt } from 'node:crypto';
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { describe, expect, it } from 'vitest';
import { loadNativeAead } from '../../shared/io/native-aead.js';
import {
  aeadOpen as aeadOpenWith,
  aeadSeal as aeadSealWith,
  AEAD_NONCE_LEN,
  nodeAead,
  TAG_LEN,
  type AeadBackend,
  writeNonce,
  xaeadOpen as xaeadOpenWith,
  xaeadSeal as xaeadSealWith,
} from '../../shared/wireguard/crypto.js';
import { forEachBackend, itLoadsOnLinux, underTest, withAddon } from './backends.js';
import { fromHex, toHex } from './hex.js';

/** The backend under test (crypto.ts takes it as a parameter; default node:crypto). */
const under = underTest<AeadBackend>(nodeAead);
type Ad = Uint8Array | null;
const aeadSeal = (k: Uint8Array, n: Uint8Array, p: Uint8Array, ad: Ad) => aeadSealWith(k, n, p, ad, under.current);
const aeadOpen = (k: Uint8Array, n: Uint8Array, c: Uint8Array, ad: Ad) => aeadOpenWith(k, n, c, ad, under.current);
const aeadSealInto = (k: Uint8Array, n: Uint8Array, p: Uint8Array, ad: Ad, out: Uint8Array, at: number) =>
  under.current.seal(k, n, ad, p, out, at);
const aeadOpenInto = (k: Uint8Array, n: Uint8Array, c: Uint8Array, ad: Ad, out: Uint8Array, at: number) =>
  under.current.open(k, n, ad, c, out, at);
const xaeadSeal = (k: Uint8Array, n: Uint8Array, p: Uint8Array, ad: Uint8Array) =>
  xaeadSealWith(k, n, p, ad, under.current);
const xaeadOpen = (k: Uint8Array, n: Uint8Array, c: Uint8Array, ad: Uint8Array) =>
  xaeadOpenWith(k, n, c, ad, under.current);

const SUNSCREEN = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);

function flip(bytes: Uint8Array, index: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[index]! ^= 0x01;
  return out;
}

describe('writeNonce: 32 zero bits, then the 64-bit counter little-endian', () => {
  const cases: [number, string][] = [
    [0, '000000000000000000000000'],
    [1, '000000000100000000000000'],
    [0x01020304, '000000000403020100000000'],
    [0xffffffff, '00000000ffffffff00000000'],
    [2 ** 32, '000000000000000001000000'],
    [2 ** 32 + 5, '000000000500000001000000'],
    [0x1234_5678_9abc, '00000000bc9a785634120000'],
    [Number.MAX_SAFE_INTEGER, '00000000ffffffffffff1f00'],
  ];
  it.each(cases)('counter %d', (counter, expected) => {
    const nonce = new Uint8Array(AEAD_NONCE_LEN).fill(0xaa); // leftovers must be overwritten
    writeNonce(nonce, counter);
    expect(toHex(nonce)).toBe(expected);
  });

  it('a transport packet sealed with counter n opens with the same nonce, not n + 1', () => {
    const key = Uint8Array.from(randomBytes(32));
    const n1 = new Uint8Array(AEAD_NONCE_LEN);
    const n2 = new Uint8Array(AEAD_NONCE_LEN);
    writeNonce(n1, 2 ** 32 + 7);
    writeNonce(n2, 2 ** 32 + 8);
    const sealed = aeadSeal(key, n1, SUNSCREEN, null);
    expect(aeadOpen(key, n1, sealed, null)).not.toBeNull();
    expect(aeadOpen(key, n2, sealed, null)).toBeNull();
  });
});

const native = loadNativeAead();
const BACKENDS = withAddon<AeadBackend>('node:crypto', nodeAead, native);

itLoadsOnLinux('the meshgate_aead addon is built and loads (Linux)', native);

forEachBackend('ChaCha20-Poly1305 from %s', BACKENDS, under, (backend) => {
  describe('RFC 8439 section 2.8.2: AEAD_CHACHA20_POLY1305 example', () => {
    const key = fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    // The 32-bit fixed-common part 07 00 00 00, then the 64-bit IV 40..47.
    const nonce = fromHex('07000000 4041424344454647');
    const aad = fromHex('50515253c0c1c2c3c4c5c6c7');
    const ciphertext = fromHex(`
      d3 1a 8d 34 64 8e 60 db 7b 86 af bc 53 ef 7e c2
      a4 ad ed 51 29 6e 08 fe a9 e2 b5 a7 36 ee 62 d6
      3d be a4 5e 8c a9 67 12 82 fa fb 69 da 92 72 8b
      1a 71 de 0a 9e 06 0b 29 05 d6 a5 b6 7e cd 3b 36
      92 dd bd 7f 2d 77 8b 8c 98 03 ae e3 28 09 1b 58
      fa b3 24 e4 fa d6 75 94 55 85 80 8b 48 31 d7 bc
      3f f4 de f0 8e 4b 7a 9d e5 76 d2 65 86 ce c6 4b
      61 16`);
    const tag = fromHex('1a:e1:0b:59:4f:09:e2:6a:7e:90:2e:cb:d0:60:06:91');

    it('seals to the published ciphertext and tag', () => {
      expect(SUNSCREEN.length).toBe(114);
      const sealed = aeadSeal(key, nonce, SUNSCREEN, aad);
      expect(toHex(sealed)).toBe(toHex(ciphertext) + toHex(tag));
    });

    it('seals into a buffer at an offset', () => {
      const out = new Uint8Array(16 + SUNSCREEN.length + TAG_LEN + 5).fill(0xee);
      const written = aeadSealInto(key, nonce, SUNSCREEN, aad, out, 16);
      expect(written).toBe(SUNSCREEN.length + TAG_LEN);
      expect(toHex(out.subarray(16, 16 + written))).toBe(toHex(ciphertext) + toHex(tag));
      expect(out[15]).toBe(0xee);
      expect(out[16 + written]).toBe(0xee);
    });

    it('opens it again; any change to tag, ciphertext, AAD or nonce gives null', () => {
      const sealed = new Uint8Array([...ciphertext, ...tag]);
      expect(toHex(aeadOpen(key, nonce, sealed, aad)!)).toBe(toHex(SUNSCREEN));
      expect(aeadOpen(key, nonce, flip(sealed, sealed.length - 1), aad)).toBeNull(); // tag
      expect(aeadOpen(key, nonce, flip(sealed, 0), aad)).toBeNull(); // ciphertext
      expect(aeadOpen(key, nonce, sealed, flip(aad, 3))).toBeNull();
      expect(aeadOpen(key, nonce, sealed, null)).toBeNull();
      expect(aeadOpen(key, flip(nonce, 11), sealed, aad)).toBeNull();
      expect(aeadOpen(flip(key, 0), nonce, sealed, aad)).toBeNull();
      expect(aeadOpen(key, nonce, sealed.subarray(0, TAG_LEN - 1), aad)).toBeNull(); // shorter than a tag
    });
  });

  describe('RFC 8439 appendix A.5: ChaCha20-Poly1305 AEAD decryption', () => {
    const key = fromHex(`
      1c 92 40 a5 eb 55 d3 8a f3 33 88 86 04 f6 b5 f0
      47 39 17 c1 40 2b 80 09 9d ca 5c bc 20 70 75 c0`);
    const nonce = fromHex('00 00 00 00 01 02 03 04 05 06 07 08');
    const aad = fromHex('f3 33 88 86 00 00 00 00 00 00 4e 91');
    const ciphertext = fromHex(`
      64 a0 86 15 75 86 1a f4 60 f0 62 c7 9b e6 43 bd
      5e 80 5c fd 34 5c f3 89 f1 08 67 0a c7 6c 8c b2
      4c 6c fc 18 75 5d 43 ee a0 9e e9 4e 38 2d 26 b0
      bd b7 b7 3c 32 1b 01 00 d4 f0 3b 7f 35 58 94 cf
      33 2f 83 0e 71 0b 97 ce 98 c8 a8 4a bd 0b 94 81
      14 ad 17 6e 00 8d 33 bd 60 f9 82 b1 ff 37 c8 55
      97 97 a0 6e f4 f0 ef 61 c1 86 32 4e 2b 35 06 38
      36 06 90 7b 6a 7c 02 b0 f9 f6 15 7b 53 c8 67 e4
      b9 16 6c 76 7b 80 4d 46 a5 9b 52 16 cd e7 a4 e9
      90 40 c5 a4 04 33 22 5e e2 82 a1 b0 a0 6c 52 3e
      af 45 34 d7 f8 3f a1 15 5b 00 47 71 8c bc 54 6a
      0d 07 2b 04 b3 56 4e ea 1b 42 22 73 f5 48 27 1a
      0b b2 31 60 53 fa 76 99 19 55 eb d6 31 59 43 4e
      ce bb 4e 46 6d ae 5a 10 73 a6 72 76 27 09 7a 10
      49 e6 17 d9 1d 36 10 94 fa 68 f0 ff 77 98 71 30
      30 5b ea ba 2e da 04 df 99 7b 71 4d 6c 6f 2c 29
      a6 ad 5c b4 02 2b 02 70 9b`);
    const tag = fromHex('ee ad 9d 67 89 0c bb 22 39 23 36 fe a1 85 1f 38');
    const plaintext = fromHex(`
      49 6e 74 65 72 6e 65 74 2d 44 72 61 66 74 73 20
      61 72 65 20 64 72 61 66 74 20 64 6f 63 75 6d 65
      6e 74 73 20 76 61 6c 69 64 20 66 6f 72 20 61 20
      6d 61 78 69 6d 75 6d 20 6f 66 20 73 69 78 20 6d
      6f 6e 74 68 73 20 61 6e 64 20 6d 61 79 20 62 65
      20 75 70 64 61 74 65 64 2c 20 72 65 70 6c 61 63
      65 64 2c 20 6f 72 20 6f 62 73 6f 6c 65 74 65 64
      20 62 79 20 6f 74 68 65 72 20 64 6f 63 75 6d 65
      6e 74 73 20 61 74 20 61 6e 79 20 74 69 6d 65 2e
      20 49 74 20 69 73 20 69 6e 61 70 70 72 6f 70 72
      69 61 74 65 20 74 6f 20 75 73 65 20 49 6e 74 65
      72 6e 65 74 2d 44 72 61 66 74 73 20 61 73 20 72
      65 66 65 72 65 6e 63 65 20 6d 61 74 65 72 69 61
      6c 20 6f 72 20 74 6f 20 63 69 74 65 20 74 68 65
      6d 20 6f 74 68 65 72 20 74 68 61 6e 20 61 73 20
      2f e2 80 9c 77 6f 72 6b 20 69 6e 20 70 72 6f 67
      72 65 73 73 2e 2f e2 80 9d`);

    it('verifies the received tag and decrypts', () => {
      expect(ciphertext.length).toBe(265);
      const sealed = new Uint8Array([...ciphertext, ...tag]);
      expect(toHex(aeadOpen(key, nonce, sealed, aad)!)).toBe(toHex(plaintext));
    });

    it('rejects a tampered tag', () => {
      const sealed = new Uint8Array([...ciphertext, ...tag]);
      for (const i of [sealed.length - TAG_LEN, sealed.length - 8, sealed.length - 1]) {
        expect(aeadOpen(key, nonce, flip(sealed, i), aad)).toBeNull();
      }
    });

    it('re-encrypting the plaintext gives the same bytes', () => {
      expect(toHex(aeadSeal(key, nonce, plaintext, aad))).toBe(toHex(ciphertext) + toHex(tag));
    });
  });

  describe('draft-irtf-cfrg-xchacha-03 appendix A.3.1: AEAD_XChaCha20_Poly1305 (HChaCha20 + this backend)', () => {
    const key = fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = fromHex('404142434445464748494a4b4c4d4e4f5051525354555657');
    const aad = fromHex('50515253c0c1c2c3c4c5c6c7');
    const ciphertext = fromHex(`
      bd 6d 17 9d 3e 83 d4 3b 95 76 57 94 93 c0 e9 39
      57 2a 17 00 25 2b fa cc be d2 90 2c 21 39 6c bb
      73 1c 7f 1b 0b 4a a6 44 0b f3 a8 2f 4e da 7e 39
      ae 64 c6 70 8c 54 c2 16 cb 96 b7 2e 12 13 b4 52
      2f 8c 9b a4 0d b5 d9 45 b1 1b 69 b9 82 c1 bb 9e
      3f 3f ac 2b c3 69 48 8f 76 b2 38 35 65 d3 ff f9
      21 f9 66 4c 97 63 7d a9 76 88 12 f6 15 c6 8b 13
      b5 2e`);
    const tag = fromHex('c0:87:59:24:c1:c7:98:79:47:de:af:d8:78:0a:cf:49');

    it('seals to the published ciphertext and tag', () => {
      expect(toHex(xaeadSeal(key, nonce, SUNSCREEN, aad))).toBe(toHex(ciphertext) + toHex(tag));
    });

    it('opens it; tampering gives null', () => {
      const sealed = new Uint8Array([...ciphertext, ...tag]);
      expect(toHex(xaeadOpen(key, nonce, sealed, aad)!)).toBe(toHex(SUNSCREEN));
      expect(xaeadOpen(key, nonce, flip(sealed, sealed.length - 1), aad)).toBeNull();
      expect(xaeadOpen(key, nonce, flip(sealed, 5), aad)).toBeNull();
      expect(xaeadOpen(key, nonce, sealed, flip(aad, 0))).toBeNull();
      expect(xaeadOpen(key, flip(nonce, 23), sealed, aad)).toBeNull();
      expect(xaeadOpen(key, nonce, sealed.subarray(0, 10), aad)).toBeNull();
    });
    it('agrees with @noble/ciphers xchacha20poly1305 on random input (and a key or nonce of the wrong length is refused)', () => {
      for (let i = 0; i < 200; i++) {
        const key = Uint8Array.from(randomBytes(32));
        const nonce = Uint8Array.from(randomBytes(24));
        const plaintext = Uint8Array.from(randomBytes(randomInt(0, 100)));
        const ad = Uint8Array.from(randomBytes(randomInt(0, 32)));
        const expected = xchacha20poly1305(key, nonce, ad).encrypt(plaintext);
        expect(toHex(xaeadSeal(key, nonce, plaintext, ad))).toBe(toHex(expected));
        expect(toHex(xaeadOpen(key, nonce, expected, ad)!)).toBe(toHex(plaintext));
      }
      expect(xaeadOpen(new Uint8Array(31), new Uint8Array(24), new Uint8Array(32), new Uint8Array(0))).toBeNull();
      expect(xaeadOpen(new Uint8Array(32), new Uint8Array(23), new Uint8Array(32), new Uint8Array(0))).toBeNull();
      expect(() => xaeadSeal(new Uint8Array(32), new Uint8Array(12), new Uint8Array(1), new Uint8Array(0))).toThrow(
        RangeError,
      );
    });
  });

  describe('it agrees with @noble/ciphers (the reference)', () => {
    it('on random keys, nonces, lengths and AAD', () => {
      for (let i = 0; i < 300; i++) {
        const key = Uint8Array.from(randomBytes(32));
        const nonce = Uint8Array.from(randomBytes(AEAD_NONCE_LEN));
        const plaintext = Uint8Array.from(randomBytes(randomInt(0, 1500)));
        const aad = i % 3 === 0 ? null : Uint8Array.from(randomBytes(randomInt(0, 64)));
        const expected = chacha20poly1305(key, nonce, aad ?? new Uint8Array(0)).encrypt(plaintext);
        const sealed = aeadSeal(key, nonce, plaintext, aad);
        expect(toHex(sealed)).toBe(toHex(expected));
        expect(toHex(aeadOpen(key, nonce, sealed, aad)!)).toBe(toHex(plaintext));
      }
    });

    it('seals and opens in place, with and without AAD, and refuses partly overlapping buffers', () => {
      for (const length of [0, 1, 15, 16, 17, 1420, 4000]) {
        const key = Uint8Array.from(randomBytes(32));
        const nonce = Uint8Array.from(randomBytes(AEAD_NONCE_LEN));
        const aad = length % 2 === 0 ? null : Uint8Array.from(randomBytes(13));
        const plaintext = Uint8Array.from(randomBytes(length));
        const expected = chacha20poly1305(key, nonce, aad ?? new Uint8Array(0)).encrypt(plaintext);
        const buf = new Uint8Array(8 + length + TAG_LEN);
        buf.set(plaintext, 8);
        expect(aeadSealInto(key, nonce, buf.subarray(8, 8 + length), aad, buf, 8)).toBe(length + TAG_LEN);
        expect(toHex(buf.subarray(8))).toBe(toHex(expected));
        expect(aeadOpenInto(key, nonce, buf.subarray(8), aad, buf, 8)).toBe(length);
        expect(toHex(buf.subarray(8, 8 + length))).toBe(toHex(plaintext));
        buf.set(expected, 8);
        buf[8 + length]! ^= 0x80; // the tag
        expect(aeadOpenInto(key, nonce, buf.subarray(8), aad, buf, 8)).toBe(-1);
      }
      if (backend !== nodeAead) {
        const key = new Uint8Array(32);
        const nonce = new Uint8Array(AEAD_NONCE_LEN);
        const buf = new Uint8Array(200);
        expect(() => backend.seal(key, nonce, null, buf.subarray(0, 100), buf, 1)).toThrow(RangeError);
        expect(() => backend.seal(key, nonce, null, buf.subarray(0, 100), buf, 90)).toThrow(RangeError);
        expect(() => backend.seal(key.subarray(1), nonce, null, buf, new Uint8Array(300), 0)).toThrow(TypeError);
        expect(() => backend.seal(key, nonce, null, buf, new Uint8Array(10), 0)).toThrow(RangeError);
        expect(backend.open(key, nonce, null, buf.subarray(0, TAG_LEN - 1), buf, 0)).toBe(-1);
      }
    });
  });
});
