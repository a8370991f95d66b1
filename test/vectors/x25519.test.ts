// X25519 (RFC 7748) through crypto.ts: the published vectors, low-order
// points, and a random cross-check against @noble/curves, once per backend the
// core can use: node:crypto (JWK import) and the meshgate_aead addon (OpenSSL
// on raw keys), which `npm ci` builds and so must be there on Linux.
// Sources: README.md.

import { randomBytes } from 'node:crypto';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { loadNativeCrypto } from '../../shared/io/native-aead.js';
import {
  dh as dhWith,
  nodeX25519,
  preparePrivateKey as prepareWith,
  publicKeyOf as publicKeyOfWith,
  releasePrivateKey,
  type PrivateKeyHandle,
  type X25519Backend,
} from '../../shared/wireguard/crypto.js';
import { forEachBackend, itLoadsOnLinux, underTest, withAddon } from './backends.js';
import { fromHex, toHex } from './hex.js';

/** The backend under test (crypto.ts takes it as a parameter; default node:crypto). */
const under = underTest<X25519Backend>(nodeX25519);
const dh = (key: PrivateKeyHandle | Uint8Array, publicKey: Uint8Array) => dhWith(key, publicKey, under.current);
const preparePrivateKey = (key: Uint8Array) => prepareWith(key, under.current);
const publicKeyOf = (key: PrivateKeyHandle | Uint8Array) => publicKeyOfWith(key, under.current);

function mustDh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const out = dh(privateKey, publicKey);
  if (out === null) throw new Error('dh() returned null');
  return out;
}

const native = loadNativeCrypto()?.x25519 ?? null;
const BACKENDS = withAddon<X25519Backend>('node:crypto', nodeX25519, native);

itLoadsOnLinux('the meshgate_aead addon with X25519 is built and loads (Linux)', native);

forEachBackend('X25519 from %s', BACKENDS, under, (backend, name) => {
  it('is the backend in use', () => {
    expect(under.current.name).toBe(backend.name);
    expect(preparePrivateKey(new Uint8Array(32).fill(1)).backend).toBe(backend);
  });

  describe('RFC 7748 section 5.2: X25519 test vectors', () => {
    it('first scalar / u-coordinate pair', () => {
      const scalar = fromHex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4');
      const u = fromHex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c');
      expect(toHex(mustDh(scalar, u))).toBe('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
    });

    it('second pair (its u-coordinate has the top bit set, which X25519 must ignore)', () => {
      const scalar = fromHex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d');
      const u = fromHex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493');
      expect(toHex(mustDh(scalar, u))).toBe('95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957');
    });

    it('iterated: k = u = 9, then k, u = X25519(k, u), k; after 1 and 1,000 iterations', () => {
      let k: Uint8Array = new Uint8Array(32);
      let u: Uint8Array = new Uint8Array(32);
      k[0] = 9;
      u[0] = 9;
      for (let i = 1; i <= 1000; i++) {
        const next = mustDh(k, u);
        u = k;
        k = next;
        if (i === 1) expect(toHex(k)).toBe('422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079');
      }
      expect(toHex(k)).toBe('684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51');
    });
  });

  describe('RFC 7748 section 6.1: Diffie-Hellman with Alice and Bob', () => {
    const alicePrivate = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const alicePublic = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
    const bobPrivate = fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    const bobPublic = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

    it('derives both public keys', () => {
      expect(toHex(publicKeyOf(alicePrivate))).toBe(alicePublic);
      expect(toHex(publicKeyOf(bobPrivate))).toBe(bobPublic);
    });

    it('both sides compute the shared secret, with raw keys and with prepared handles', () => {
      expect(toHex(mustDh(alicePrivate, fromHex(bobPublic)))).toBe(shared);
      expect(toHex(mustDh(bobPrivate, fromHex(alicePublic)))).toBe(shared);
      const handle = preparePrivateKey(alicePrivate);
      expect(toHex(dh(handle, fromHex(bobPublic))!)).toBe(shared);
      expect(toHex(dh(handle, fromHex(bobPublic))!)).toBe(shared); // a handle is reusable
    });
  });

  describe('low-order points', () => {
    // u = 0 and u = 1 have small order; the third is the order-8 point listed in
    // BoringSSL's X25519Test.SmallOrder (crypto/curve25519/x25519_test.cc).
    const lowOrder = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    ];
    it('dh() returns null instead of an all-zero secret', () => {
      const priv = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
      for (const point of lowOrder) {
        expect(dh(priv, fromHex(point)), point).toBeNull();
        expect(dh(preparePrivateKey(priv), fromHex(point)), point).toBeNull();
      }
    });

    it('dh() returns null for a public key of the wrong length', () => {
      const priv = new Uint8Array(32).fill(7);
      expect(dh(priv, new Uint8Array(31))).toBeNull();
      expect(dh(priv, new Uint8Array(33))).toBeNull();
    });
  });

  describe('agrees with @noble/curves (the reference)', () => {
    it('on 200 random key pairs', () => {
      for (let i = 0; i < 200; i++) {
        const a = Uint8Array.from(randomBytes(32));
        const b = Uint8Array.from(randomBytes(32));
        const bPublic = nobleX25519.getPublicKey(b);
        expect(toHex(publicKeyOf(a))).toBe(toHex(nobleX25519.getPublicKey(a)));
        expect(toHex(mustDh(a, bPublic))).toBe(toHex(nobleX25519.getSharedSecret(a, bPublic)));
      }
    });
  });

  it('a released handle is refused (native) or still harmless (node:crypto); releasing twice is fine', () => {
    const handle = preparePrivateKey(fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    releasePrivateKey(handle);
    releasePrivateKey(handle);
    if (name !== 'node:crypto') expect(() => dh(handle, new Uint8Array(32).fill(9))).toThrow(TypeError);
  });
});

describe('the addon refuses what is not its own key object', () => {
  it.skipIf(native === null)('throws TypeError on a foreign or malformed argument', () => {
    const n = native!;
    const out = new Uint8Array(32);
    expect(() => n.derive({}, new Uint8Array(32), out)).toThrow(TypeError);
    expect(() => n.importPrivateKey(new Uint8Array(31))).toThrow(TypeError);
    const key = n.importPrivateKey(new Uint8Array(32).fill(3));
    expect(() => n.derive(key, new Uint8Array(31), out)).toThrow(TypeError);
    expect(() => n.derive(key, new Uint8Array(32).fill(9), new Uint8Array(16))).toThrow(TypeError);
    expect(() => n.publicKey(key, new Uint8Array(33))).toThrow(TypeError);
    n.release(key);
  });
});
