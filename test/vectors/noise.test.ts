// The published Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s vector (cacophony, see
// README.md) run through a minimal, generic Noise handshake written here on top
// of crypto.ts and kdf.ts. WireGuard's handshake is this pattern with its own
// prologue, payloads and framing, so this checks the primitives and the
// symmetric-state plumbing that noise-protocol code builds on, against an
// implementation written by someone else.
//
//   IKpsk2:  <- s
//            ...
//            -> e, es, s, ss
//            <- e, ee, se, psk
//
// Noise spec revision 34: CipherState and SymmetricState (section 5.1, 5.2),
// the psk modifier (section 9: with a psk, "e" also calls MixKey), Split.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { aeadOpen, aeadSeal, AEAD_NONCE_LEN, dh, KEY_LEN, publicKeyOf, writeNonce } from '../../shared/wireguard/crypto.js';
import { initialState, kdf2, kdf3, mixHash } from '../../shared/wireguard/kdf.js';
import { fromHex, toHex } from './hex.js';

interface NoiseVector {
  protocol_name: string;
  init_prologue: string;
  init_psks: string[];
  init_static: string;
  init_ephemeral: string;
  init_remote_static: string;
  resp_prologue: string;
  resp_psks: string[];
  resp_static: string;
  resp_ephemeral: string;
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

const vector = JSON.parse(
  readFileSync(new URL('./noise-ikpsk2-25519-chachapoly-blake2s.json', import.meta.url), 'utf8'),
) as NoiseVector;

/** A CipherState: a key (or none yet) and a 64-bit nonce counter. */
class CipherState {
  private n = 0;
  constructor(private readonly k: Uint8Array | null) {}

  private nonce(): Uint8Array {
    const nonce = new Uint8Array(AEAD_NONCE_LEN);
    writeNonce(nonce, this.n++); // ChaChaPoly: 32 zero bits, then n little-endian
    return nonce;
  }
  encrypt(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    return this.k === null ? plaintext : aeadSeal(this.k, this.nonce(), plaintext, ad);
  }
  decrypt(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (this.k === null) return ciphertext;
    const plain = aeadOpen(this.k, this.nonce(), ciphertext, ad);
    if (plain === null) throw new Error('decryption failed');
    return plain;
  }
}

/** A SymmetricState: chaining key, handshake hash, and the current CipherState. */
class SymmetricState {
  ck: Uint8Array;
  h: Uint8Array;
  private cipher = new CipherState(null);

  constructor(protocolName: string, prologue: Uint8Array) {
    const s = initialState(protocolName, prologue); // InitializeSymmetric, then MixHash(prologue)
    this.ck = s.chainingKey;
    this.h = s.hash;
  }
  mixHash(data: Uint8Array): void {
    this.h = mixHash(this.h, data);
  }
  mixKey(input: Uint8Array): void {
    const [ck, k] = kdf2(this.ck, input);
    this.ck = ck;
    this.cipher = new CipherState(k);
  }
  mixKeyAndHash(input: Uint8Array): void {
    const [ck, tempH, k] = kdf3(this.ck, input);
    this.ck = ck;
    this.mixHash(tempH);
    this.cipher = new CipherState(k);
  }
  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const c = this.cipher.encrypt(this.h, plaintext);
    this.mixHash(c);
    return c;
  }
  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const p = this.cipher.decrypt(this.h, ciphertext);
    this.mixHash(ciphertext);
    return p;
  }
  split(): [CipherState, CipherState] {
    const [k1, k2] = kdf2(this.ck, new Uint8Array(0));
    return [new CipherState(k1), new CipherState(k2)];
  }
}

function mustDh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const out = dh(privateKey, publicKey);
  if (out === null) throw new Error('low-order point');
  return out;
}

const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(parts.flatMap((p) => [...p]));
const TAG = 16;

describe(`Noise vector ${vector.protocol_name} (cacophony)`, () => {
  it('is the WireGuard pattern', () => {
    expect(vector.protocol_name).toBe('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
    expect(vector.init_psks).toHaveLength(1);
  });

  it('the initiator knows the responder static key the vector says', () => {
    expect(toHex(publicKeyOf(fromHex(vector.resp_static)))).toBe(vector.init_remote_static);
  });

  it('both sides produce the published messages and handshake hash', () => {
    const initS = fromHex(vector.init_static);
    const initE = fromHex(vector.init_ephemeral);
    const respS = fromHex(vector.resp_static);
    const respE = fromHex(vector.resp_ephemeral);
    const initSPub = publicKeyOf(initS);
    const initEPub = publicKeyOf(initE);
    const respSPub = fromHex(vector.init_remote_static);
    const respEPub = publicKeyOf(respE);
    const psk = fromHex(vector.init_psks[0]!);
    expect(vector.resp_psks[0]).toBe(vector.init_psks[0]);

    const initiator = new SymmetricState(vector.protocol_name, fromHex(vector.init_prologue));
    const responder = new SymmetricState(vector.protocol_name, fromHex(vector.resp_prologue));
    // Pre-message "<- s": both hash the responder's static key.
    initiator.mixHash(respSPub);
    responder.mixHash(respSPub);

    // -> e, es, s, ss (+ payload)
    const m0 = vector.messages[0]!;
    initiator.mixHash(initEPub);
    initiator.mixKey(initEPub); // psk modifier
    initiator.mixKey(mustDh(initE, respSPub));
    const encryptedStatic = initiator.encryptAndHash(initSPub);
    initiator.mixKey(mustDh(initS, respSPub));
    const message0 = concat(initEPub, encryptedStatic, initiator.encryptAndHash(fromHex(m0.payload)));
    expect(toHex(message0)).toBe(m0.ciphertext);

    const re = message0.subarray(0, KEY_LEN);
    responder.mixHash(re);
    responder.mixKey(re);
    responder.mixKey(mustDh(respS, re));
    const rs = responder.decryptAndHash(message0.subarray(KEY_LEN, KEY_LEN * 2 + TAG));
    expect(toHex(rs)).toBe(toHex(initSPub));
    responder.mixKey(mustDh(respS, rs));
    expect(toHex(responder.decryptAndHash(message0.subarray(KEY_LEN * 2 + TAG)))).toBe(m0.payload);

    // <- e, ee, se, psk (+ payload)
    const m1 = vector.messages[1]!;
    responder.mixHash(respEPub);
    responder.mixKey(respEPub);
    responder.mixKey(mustDh(respE, re));
    responder.mixKey(mustDh(respE, rs));
    responder.mixKeyAndHash(psk);
    const message1 = concat(respEPub, responder.encryptAndHash(fromHex(m1.payload)));
    expect(toHex(message1)).toBe(m1.ciphertext);

    const ie = message1.subarray(0, KEY_LEN);
    initiator.mixHash(ie);
    initiator.mixKey(ie);
    initiator.mixKey(mustDh(initE, ie));
    initiator.mixKey(mustDh(initS, ie));
    initiator.mixKeyAndHash(psk);
    expect(toHex(initiator.decryptAndHash(message1.subarray(KEY_LEN)))).toBe(m1.payload);

    // Transport messages alternate direction; each side has its own nonce counter.
    const [initSend, initReceive] = initiator.split();
    const [respReceive, respSend] = responder.split();
    const empty = new Uint8Array(0);
    vector.messages.slice(2).forEach((m, i) => {
      const fromInitiator = i % 2 === 0;
      const ciphertext = (fromInitiator ? initSend : respSend).encrypt(empty, fromHex(m.payload));
      expect(toHex(ciphertext), `transport message ${i}`).toBe(m.ciphertext);
      const plain = (fromInitiator ? respReceive : initReceive).decrypt(empty, ciphertext);
      expect(toHex(plain)).toBe(m.payload);
    });

    // The handshake hash, which both sides now share.
    expect(toHex(initiator.h)).toBe(vector.handshake_hash);
    expect(toHex(responder.h)).toBe(vector.handshake_hash);

  });
});
