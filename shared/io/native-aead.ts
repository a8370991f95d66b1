// Loader of the meshgate_aead addon (shared/native/crypto/): ChaCha20-Poly1305
// without a per-packet Cipheriv object, X25519 on raw keys and BLAKE2s (hash,
// HMAC, keyed MAC), all from the OpenSSL inside Node.js. The protocol core
// does not load it; a daemon passes daemonCrypto() to its Device
// (DeviceOptions.crypto), which then seals, opens, runs Diffie-Hellman and
// hashes through it.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { nodeCrypto, type AeadBackend, type Blake2sBackend, type CryptoBackend } from '../wireguard/crypto.js';
import { packageRoot } from './native.js';

const ADDON = join('build', 'Release', 'meshgate_aead.node');
/** Bump together with API_VERSION in shared/native/crypto/meshgate_crypto.h. */
const AEAD_API_VERSION = 3;

/** An imported private key: an N-API external the addon recognises by its type tag. */
type NativeKey = object;

interface NativeAeadModule {
  readonly apiVersion: number;
  readonly openssl: string;
  seal: AeadBackend['seal'];
  open: AeadBackend['open'];
  x25519Import(privateKey: Uint8Array): NativeKey;
  x25519PublicKey(key: NativeKey, out: Uint8Array): void;
  x25519(key: NativeKey, publicKey: Uint8Array, out: Uint8Array): boolean;
  x25519Release(key: NativeKey): void;
  blake2s: Blake2sBackend['hash'];
  hmacBlake2s: Blake2sBackend['hmac'];
  blake2sMac: Blake2sBackend['mac'];
  hkdfBlake2s: Blake2sBackend['hkdf'];
}

let loaded: CryptoBackend | null | undefined;

/** The addon as a CryptoBackend, or null when it was not built here (then node:crypto serves). */
export function loadNativeCrypto(): CryptoBackend | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const path = join(packageRoot(), ADDON);
  if (process.platform !== 'linux' || !existsSync(path)) return null;
  try {
    const mod = createRequire(import.meta.url)(path) as NativeAeadModule;
    if (mod.apiVersion === AEAD_API_VERSION) {
      loaded = {
        aead: { name: mod.openssl, seal: mod.seal, open: mod.open },
        x25519: {
          name: mod.openssl,
          importPrivateKey: mod.x25519Import,
          publicKey: mod.x25519PublicKey as (key: unknown, out: Uint8Array) => void,
          derive: mod.x25519 as (key: unknown, publicKey: Uint8Array, out: Uint8Array) => boolean,
          release: mod.x25519Release as (key: unknown) => void,
        },
        blake2s: {
          name: mod.openssl,
          hash: mod.blake2s,
          hmac: mod.hmacBlake2s,
          mac: mod.blake2sMac,
          hkdf: mod.hkdfBlake2s,
        },
      };
    }
  } catch {
    // not loadable (a Node.js built without its own OpenSSL): node:crypto serves
  }
  return loaded;
}

/** The addon's ChaCha20-Poly1305 alone, or null (benchmarks and vector tests). */
export function loadNativeAead(): AeadBackend | null {
  return loadNativeCrypto()?.aead ?? null;
}

/**
 * The crypto a daemon's Device runs on: the addon's ChaCha20-Poly1305, X25519
 * and BLAKE2s where it loads, else node:crypto and @noble. MESHGATE_AEAD=node
 * keeps the latter (for comparison).
 */
export function daemonCrypto(): CryptoBackend {
  return (process.env.MESHGATE_AEAD === 'node' ? null : loadNativeCrypto()) ?? nodeCrypto;
}
