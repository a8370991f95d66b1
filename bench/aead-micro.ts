// Micro-benchmark of ChaCha20-Poly1305 on the packet path: seal and open of
// 1,420-byte packets into a preallocated buffer, ops/s for each backend the
// core can use (the meshgate_aead addon, node:crypto) and @noble/ciphers, the
// reference. Pure computation on this machine; no network.
//
//   npx vite-node bench/aead-micro.ts          (SECONDS=2 by default)

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { loadNativeAead } from '../shared/io/native-aead.js';
import { nodeAead, TAG_LEN, type AeadBackend } from '../shared/wireguard/crypto.js';

const SECONDS = Number(process.env.SECONDS ?? 2);
const SIZE = 1420;

const noble: AeadBackend = {
  name: '@noble/ciphers',
  seal(key, nonce, ad, plaintext, out, outOffset) {
    const sealed = chacha20poly1305(key, nonce, ad ?? undefined).encrypt(plaintext);
    out.set(sealed, outOffset);
    return sealed.length;
  },
  open(key, nonce, ad, sealed, out, outOffset) {
    try {
      const plain = chacha20poly1305(key, nonce, ad ?? undefined).decrypt(sealed);
      out.set(plain, outOffset);
      return plain.length;
    } catch {
      return -1;
    }
  },
};

function rate(fn: () => void): number {
  for (let i = 0; i < 2000; i++) fn(); // warm-up
  let n = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 500; i++) fn();
    n += 500;
  }
  return n / ((performance.now() - start) / 1000);
}

const key = new Uint8Array(32).fill(7);
const nonce = new Uint8Array(12);
const plain = new Uint8Array(SIZE).fill(1);
const sealed = new Uint8Array(SIZE + TAG_LEN);
const out = new Uint8Array(SIZE + TAG_LEN);

const backends = [loadNativeAead(), nodeAead, noble].filter((b): b is AeadBackend => b !== null);
console.log(`ChaCha20-Poly1305, ${SIZE}-byte packets, ${SECONDS} s per case, one core`);
console.log('backend                         seal ops/s   open ops/s   seal MB/s');
for (const b of backends) {
  b.seal(key, nonce, null, plain, sealed, 0);
  const s = rate(() => b.seal(key, nonce, null, plain, out, 0));
  const o = rate(() => {
    if (b.open(key, nonce, null, sealed, out, 0) !== SIZE) throw new Error(`${b.name}: open failed`);
  });
  const name = b.name.padEnd(30);
  console.log(
    `${name}  ${Math.round(s).toString().padStart(10)}   ${Math.round(o).toString().padStart(10)}   ${((s * SIZE) / 1e6).toFixed(0).padStart(8)}`,
  );
}
