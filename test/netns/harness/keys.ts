// Keys in the text form of `wg genkey`, `wg pubkey` and `wg genpsk` (base64), from node:crypto.

import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';

export interface KeyPair {
  /** base64, 32 bytes, as `wg genkey` prints it */
  readonly privateKey: string;
  /** base64, 32 bytes */
  readonly publicKey: string;
}

function b64urlToB64(s: string): string {
  return Buffer.from(s, 'base64url').toString('base64');
}

/** A fresh Curve25519 key pair (node:crypto; same format as `wg genkey | wg pubkey`). */
export function genKeyPair(): KeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { privateKey: b64urlToB64(jwk.d!), publicKey: b64urlToB64(jwk.x!) };
}

// RFC 8410 PKCS#8 prefix of an X25519 private key (OID 1.3.101.110), followed by the 32 key bytes.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** The public key of a base64 private key (clamping as X25519 does). */
export function publicKeyOf(privateKeyB64: string): string {
  const d = Buffer.from(privateKeyB64, 'base64');
  if (d.length !== 32) throw new Error('private key must be 32 bytes of base64');
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, d]), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return b64urlToB64(jwk.x!);
}

/** A fresh preshared key (32 random bytes, base64), as `wg genpsk` prints it. */
export function genPsk(): string {
  return randomBytes(32).toString('base64');
}
