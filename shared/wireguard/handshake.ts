// The Noise_IKpsk2 handshake as WireGuard runs it (whitepaper sections 5.4.2
// to 5.4.5), as pure functions from keys, state and bytes to new state and
// bytes. MAC1/MAC2 are not handled here (cookie.ts fills and checks them),
// nor are replay of timestamps and index allocation (device.ts).
//
//   initiator                                   responder
//   createInitiation ── type 1 (148 bytes) ──▶ consumeInitiation
//   consumeResponse  ◀── type 2 (92 bytes) ─── createResponse
//   both derive the same transport keys (send_i = recv_r, recv_i = send_r)
//
// The primitives come from the identity's backend (StaticIdentity.crypto, set
// by createIdentity from DeviceOptions.crypto): every step passes it down.

import {
  aeadOpen,
  aeadSeal,
  dh,
  generatePrivateKey,
  hash,
  KEY_LEN,
  nodeBlake2s,
  nodeCrypto,
  preparePrivateKey,
  publicKeyOf,
  releasePrivateKey,
  TAG_LEN,
  wipe,
  ZERO_NONCE,
  type Blake2sBackend,
  type CryptoBackend,
  type PrivateKeyHandle,
  type RandomBytes,
} from './crypto.js';
import { CONSTRUCTION, IDENTIFIER } from './constants.js';
import { initialState, kdf1, kdf2, kdf3, mixHash } from './kdf.js';
import {
  INITIATION_EPHEMERAL,
  INITIATION_MAC1,
  INITIATION_SENDER,
  INITIATION_SIZE,
  INITIATION_STATIC,
  INITIATION_TIMESTAMP,
  MessageType,
  readU32,
  RESPONSE_EMPTY,
  RESPONSE_EPHEMERAL,
  RESPONSE_MAC1,
  RESPONSE_RECEIVER,
  RESPONSE_SENDER,
  RESPONSE_SIZE,
  TIMESTAMP_LEN,
  writeHeader,
  writeU32,
} from './messages.js';

/** Chaining key and hash before any key is mixed in: shared by every WireGuard handshake (constants, so any backend's). */
const INITIAL = initialState(CONSTRUCTION, new TextEncoder().encode(IDENTIFIER), nodeBlake2s);
const EMPTY = new Uint8Array(0);

/** Our own static key pair, prepared once. */
export interface StaticIdentity {
  /** The primitives of every handshake this identity takes part in. */
  readonly crypto: CryptoBackend;
  readonly privateKey: PrivateKeyHandle;
  readonly publicKey: Uint8Array;
  /** HASH(h0 || our public key): where every initiation sent to us starts. */
  readonly responderHash: Uint8Array;
}

/**
 * Imports our static private key once. No copy of `privateKey` is kept here
 * (the backend holds the key; the caller keeps and wipes its own bytes).
 */
export function createIdentity(privateKey: Uint8Array, crypto: CryptoBackend = nodeCrypto): StaticIdentity {
  const handle = preparePrivateKey(privateKey, crypto.x25519);
  const publicKey = publicKeyOf(handle);
  return { crypto, privateKey: handle, publicKey, responderHash: mixHash(INITIAL.hash, publicKey, crypto.blake2s) };
}

/** What a handshake needs to know about the remote peer. */
export interface RemoteKeys {
  readonly publicKey: Uint8Array;
  /** 32 bytes; all zeros when no preshared key is configured (as the paper says). */
  readonly presharedKey: Uint8Array;
  /** DH(our static, their static), computed once per peer; null if it is a low-order key. */
  readonly staticStatic: Uint8Array | null;
  /** HASH(h0 || their public key): where our initiations to them start. */
  readonly initiatorHash: Uint8Array;
}

export function createRemoteKeys(local: StaticIdentity, publicKey: Uint8Array, presharedKey?: Uint8Array): RemoteKeys {
  return {
    publicKey,
    presharedKey: presharedKey ?? new Uint8Array(KEY_LEN),
    staticStatic: dh(local.privateKey, publicKey),
    initiatorHash: mixHash(INITIAL.hash, publicKey, local.crypto.blake2s),
  };
}

/**
 * The initiator's state between sending an initiation and receiving the
 * response. Holds secrets: wipeInitiation() when it is replaced, abandoned or used.
 */
export interface InitiationState {
  readonly localIndex: number;
  /** Our ephemeral private key, imported once for the response's two DHs. */
  readonly ephemeral: PrivateKeyHandle;
  readonly chainingKey: Uint8Array;
  readonly hash: Uint8Array;
}

/** Forgets an initiation's secrets: the ephemeral private key and the chaining key. */
export function wipeInitiation(state: InitiationState): void {
  releasePrivateKey(state.ephemeral);
  wipe(state.chainingKey, state.hash);
}

/**
 * The responder's state after a valid initiation, until it sends the
 * response; createResponse() wipes its chaining key.
 */
export interface ConsumedInitiation {
  readonly remoteStatic: Uint8Array;
  readonly remoteIndex: number;
  readonly remoteEphemeral: Uint8Array;
  readonly timestamp: Uint8Array;
  readonly chainingKey: Uint8Array;
  readonly hash: Uint8Array;
}

/** Keys for one transport session. */
export interface SessionKeys {
  readonly sendKey: Uint8Array;
  readonly receiveKey: Uint8Array;
  readonly localIndex: number;
  readonly remoteIndex: number;
  readonly isInitiator: boolean;
}

/**
 * A fresh ephemeral key pair: the private key is imported once for the DHs
 * that follow, and its bytes (the array `random` returned) are wiped at once.
 */
function ephemeral(random: RandomBytes, crypto: CryptoBackend): { handle: PrivateKeyHandle; pub: Uint8Array } {
  const priv = generatePrivateKey(random);
  const handle = preparePrivateKey(priv, crypto.x25519);
  wipe(priv);
  return { handle, pub: publicKeyOf(handle) };
}

/**
 * MixKey with one output (the psk-mode "e" and the DH steps of the response):
 * the next chaining key; the previous one and the DH result are wiped.
 */
function mixKey1(ck: Uint8Array, input: Uint8Array, blake: Blake2sBackend): Uint8Array {
  const next = kdf1(ck, input, blake);
  if (ck !== INITIAL.chainingKey) wipe(ck);
  return next;
}

/** MixKey with a key output: [next chaining key, key]; the previous chaining key is wiped. */
function mixKey2(ck: Uint8Array, input: Uint8Array, blake: Blake2sBackend): [Uint8Array, Uint8Array] {
  const out = kdf2(ck, input, blake);
  if (ck !== INITIAL.chainingKey) wipe(ck);
  return out;
}

/**
 * The response's key schedule after "e", the same on both sides (whitepaper
 * section 5.4.3): the chaining key mixes DH(e_r, e_i) and DH(e_r, s_i) (the
 * initiator computes them as DH(e_i, e_r) and DH(s_i, e_r)), then the
 * preshared key gives [next chaining key, tau, key]. Null when a DH failed.
 * ck, ee and se are wiped either way.
 */
function mixResponseKeys(
  ck: Uint8Array,
  ee: Uint8Array | null,
  se: Uint8Array | null,
  presharedKey: Uint8Array,
  blake: Blake2sBackend,
): [Uint8Array, Uint8Array, Uint8Array] | null {
  if (ee === null || se === null) {
    wipe(ck, ee, se);
    return null;
  }
  let next = mixKey1(ck, ee, blake);
  next = mixKey1(next, se, blake);
  wipe(ee, se);
  const out = kdf3(next, presharedKey, blake);
  wipe(next);
  return out;
}

/**
 * Builds a handshake initiation (section 5.4.2). MAC1 and MAC2 are left zero
 * for the cookie layer. Returns null only if the peer's key is unusable.
 */
export function createInitiation(
  local: StaticIdentity,
  remote: RemoteKeys,
  localIndex: number,
  timestamp: Uint8Array,
  random: RandomBytes,
): { message: Uint8Array; state: InitiationState } | null {
  if (remote.staticStatic === null) return null;
  const { aead, blake2s: blake } = local.crypto;
  const msg = new Uint8Array(INITIATION_SIZE);
  writeHeader(msg, MessageType.Initiation);
  writeU32(msg, INITIATION_SENDER, localIndex);

  const e = ephemeral(random, local.crypto);
  msg.set(e.pub, INITIATION_EPHEMERAL);
  let ck = mixKey1(INITIAL.chainingKey, e.pub, blake);
  let h = mixHash(remote.initiatorHash, e.pub, blake);

  const es = dh(e.handle, remote.publicKey);
  if (es === null) {
    releasePrivateKey(e.handle);
    wipe(ck);
    return null;
  }
  let key: Uint8Array;
  [ck, key] = mixKey2(ck, es, blake);
  wipe(es);
  const sealedStatic = aeadSeal(key, ZERO_NONCE, local.publicKey, h, aead);
  wipe(key);
  msg.set(sealedStatic, INITIATION_STATIC);
  h = mixHash(h, sealedStatic, blake);

  [ck, key] = mixKey2(ck, remote.staticStatic, blake);
  const sealedTimestamp = aeadSeal(key, ZERO_NONCE, timestamp, h, aead);
  wipe(key);
  msg.set(sealedTimestamp, INITIATION_TIMESTAMP);
  h = mixHash(h, sealedTimestamp, blake);

  return { message: msg, state: { localIndex, ephemeral: e.handle, chainingKey: ck, hash: h } };
}

export type ConsumeInitiationResult =
  { ok: true; consumed: ConsumedInitiation } | { ok: false; reason: 'handshake-invalid' | 'unknown-peer' };

/**
 * Opens a handshake initiation addressed to us (MAC1 already checked).
 * `findPeer` maps the initiator's static public key to its keys, or undefined.
 */
export function consumeInitiation(
  local: StaticIdentity,
  msg: Uint8Array,
  findPeer: (publicKey: Uint8Array) => RemoteKeys | undefined,
): ConsumeInitiationResult {
  const invalid = (...secrets: Uint8Array[]): ConsumeInitiationResult => {
    wipe(...secrets);
    return { ok: false, reason: 'handshake-invalid' };
  };
  const { aead, blake2s: blake } = local.crypto;
  const remoteEphemeral = msg.slice(INITIATION_EPHEMERAL, INITIATION_EPHEMERAL + KEY_LEN);
  let ck = mixKey1(INITIAL.chainingKey, remoteEphemeral, blake);
  let h = mixHash(local.responderHash, remoteEphemeral, blake);

  const es = dh(local.privateKey, remoteEphemeral);
  if (es === null) return invalid(ck);
  let key: Uint8Array;
  [ck, key] = mixKey2(ck, es, blake);
  wipe(es);
  const sealedStatic = msg.subarray(INITIATION_STATIC, INITIATION_STATIC + KEY_LEN + TAG_LEN);
  const remoteStatic = aeadOpen(key, ZERO_NONCE, sealedStatic, h, aead);
  wipe(key);
  if (remoteStatic === null) return invalid(ck);
  h = mixHash(h, sealedStatic, blake);

  const remote = findPeer(remoteStatic);
  if (remote === undefined) {
    wipe(ck);
    return { ok: false, reason: 'unknown-peer' };
  }
  if (remote.staticStatic === null) return invalid(ck);
  [ck, key] = mixKey2(ck, remote.staticStatic, blake);
  const sealedTimestamp = msg.subarray(INITIATION_TIMESTAMP, INITIATION_TIMESTAMP + TIMESTAMP_LEN + TAG_LEN);
  const timestamp = aeadOpen(key, ZERO_NONCE, sealedTimestamp, h, aead);
  wipe(key);
  if (timestamp === null) return invalid(ck);
  h = mixHash(h, sealedTimestamp, blake);

  return {
    ok: true,
    consumed: {
      remoteStatic,
      remoteIndex: readU32(msg, INITIATION_SENDER),
      remoteEphemeral,
      timestamp,
      chainingKey: ck,
      hash: h,
    },
  };
}

/**
 * Builds the handshake response (section 5.4.3) and derives the responder's
 * session keys. Wipes `consumed.chainingKey` (a consumed initiation answers once).
 */
export function createResponse(
  local: StaticIdentity,
  remote: RemoteKeys,
  consumed: ConsumedInitiation,
  localIndex: number,
  random: RandomBytes,
): { message: Uint8Array; keys: SessionKeys } | null {
  const { aead, blake2s: blake } = local.crypto;
  const msg = new Uint8Array(RESPONSE_SIZE);
  writeHeader(msg, MessageType.Response);
  writeU32(msg, RESPONSE_SENDER, localIndex);
  writeU32(msg, RESPONSE_RECEIVER, consumed.remoteIndex);

  const e = ephemeral(random, local.crypto);
  msg.set(e.pub, RESPONSE_EPHEMERAL);
  const ck = kdf1(consumed.chainingKey, e.pub, blake);
  wipe(consumed.chainingKey);
  let h = mixHash(consumed.hash, e.pub, blake);

  const ee = dh(e.handle, consumed.remoteEphemeral);
  const se = dh(e.handle, remote.publicKey);
  releasePrivateKey(e.handle);
  const mixed = mixResponseKeys(ck, ee, se, remote.presharedKey, blake);
  if (mixed === null) return null;
  const [ck2, tau, key] = mixed;
  h = mixHash(h, tau, blake);
  const sealedEmpty = aeadSeal(key, ZERO_NONCE, EMPTY, h, aead);
  msg.set(sealedEmpty, RESPONSE_EMPTY);

  const [initiatorSend, initiatorReceive] = kdf2(ck2, EMPTY, blake);
  wipe(ck2, tau, key);
  return {
    message: msg,
    keys: {
      sendKey: initiatorReceive,
      receiveKey: initiatorSend,
      localIndex,
      remoteIndex: consumed.remoteIndex,
      isInitiator: false,
    },
  };
}

/**
 * Opens a handshake response to our initiation (MAC1 already checked); null
 * if it does not authenticate. The state is left as it was: the caller wipes
 * it once the response is taken (a forged response must not end the wait).
 */
export function consumeResponse(
  local: StaticIdentity,
  remote: RemoteKeys,
  state: InitiationState,
  msg: Uint8Array,
): SessionKeys | null {
  const { aead, blake2s: blake } = local.crypto;
  const remoteEphemeral = msg.subarray(RESPONSE_EPHEMERAL, RESPONSE_EPHEMERAL + KEY_LEN);
  const ck = kdf1(state.chainingKey, remoteEphemeral, blake);
  let h = mixHash(state.hash, remoteEphemeral, blake);
  const ee = dh(state.ephemeral, remoteEphemeral);
  const se = dh(local.privateKey, remoteEphemeral);
  const mixed = mixResponseKeys(ck, ee, se, remote.presharedKey, blake);
  if (mixed === null) return null;
  const [ck2, tau, key] = mixed;
  h = mixHash(h, tau, blake);
  const empty = aeadOpen(key, ZERO_NONCE, msg.subarray(RESPONSE_EMPTY, RESPONSE_MAC1), h, aead);
  wipe(tau, key);
  if (empty === null) {
    wipe(ck2);
    return null;
  }
  const [send, receive] = kdf2(ck2, EMPTY, blake);
  wipe(ck2);
  return {
    sendKey: send,
    receiveKey: receive,
    localIndex: state.localIndex,
    remoteIndex: readU32(msg, RESPONSE_SENDER),
    isInitiator: true,
  };
}

/** The bytes MAC1 covers, for either handshake message. */
export function mac1Span(msg: Uint8Array): Uint8Array {
  return msg.subarray(0, msg.length === INITIATION_SIZE ? INITIATION_MAC1 : RESPONSE_MAC1);
}

/** Hash of an arbitrary label and key: HASH(label || key), used for MAC1 and cookie keys. */
export function labelKey(label: string, publicKey: Uint8Array, blake: Blake2sBackend = nodeBlake2s): Uint8Array {
  return hash(new TextEncoder().encode(label), publicKey, blake);
}
