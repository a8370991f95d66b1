// Loader of the meshgate_aead addon (shared/native/aead.c): ChaCha20-Poly1305
// from the OpenSSL inside Node.js, called without a per-packet Cipheriv
// object. The protocol core does not load it; a daemon's entry point installs
// it with useNativeAead(), and the core then seals and opens through it.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setAeadBackend, type AeadBackend } from '../wireguard/crypto.js';
import { packageRoot } from './native.js';

const ADDON = join('build', 'Release', 'meshgate_aead.node');
/** Bump together with API_VERSION in shared/native/aead.c. */
const AEAD_API_VERSION = 1;

interface NativeAeadModule {
  readonly apiVersion: number;
  readonly openssl: string;
  seal: AeadBackend['seal'];
  open: AeadBackend['open'];
}

let loaded: AeadBackend | null | undefined;

/** The addon as an AeadBackend, or null when it was not built here (then node:crypto serves). */
export function loadNativeAead(): AeadBackend | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const path = join(packageRoot(), ADDON);
  if (process.platform !== 'linux' || !existsSync(path)) return null;
  try {
    const mod = createRequire(import.meta.url)(path) as NativeAeadModule;
    if (mod.apiVersion === AEAD_API_VERSION) loaded = { name: mod.openssl, seal: mod.seal, open: mod.open };
  } catch {
    // not loadable (a Node.js built without its own OpenSSL): node:crypto serves
  }
  return loaded;
}

/**
 * Installs the addon as the core's ChaCha20-Poly1305 where it loads (its name:
 * aeadBackendName()). MESHGATE_AEAD=node keeps node:crypto (for comparison).
 */
export function useNativeAead(): void {
  setAeadBackend(process.env.MESHGATE_AEAD === 'node' ? null : loadNativeAead());
}
