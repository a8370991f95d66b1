// MAC1, MAC2 and cookie replies (whitepaper section 5.4.4 and 5.4.7).
//
// MAC1 proves the sender knows our public key; it is checked before any
// Diffie-Hellman work. Under load, a responder also demands MAC2, keyed with
// a cookie that binds the sender's address; without it the sender gets a
// cookie reply (type 3) instead of a handshake, and must retry with MAC2.
//
//   CookieChecker (the side receiving handshakes)  CookieGenerator (one per peer we send to)
//   checkMac1, checkMac2, createReply               addMacs, consumeReply
//
// Both take the device's crypto backend (BLAKE2s for the MACs, its AEAD under
// XChaCha20-Poly1305); the default is nodeCrypto.

import { COOKIE_REFRESH_TIME, LABEL_COOKIE, LABEL_MAC1 } from './constants.js';
import {
  equalConstantTime,
  isZero,
  KEY_LEN,
  mac,
  MAC_LEN,
  nodeCrypto,
  wipe,
  XAEAD_NONCE_LEN,
  xaeadOpen,
  xaeadSeal,
  type CryptoBackend,
  type RandomBytes,
} from './crypto.js';
import { labelKey } from './handshake.js';
import {
  COOKIE_NONCE,
  COOKIE_RECEIVER,
  COOKIE_REPLY_SIZE,
  COOKIE_SEALED,
  INITIATION_MAC1,
  INITIATION_SIZE,
  MessageType,
  RESPONSE_MAC1,
  writeHeader,
  writeU32,
} from './messages.js';

/** Where MAC1 sits in a handshake message (initiation or response). */
function mac1Offset(msg: Uint8Array): number {
  return msg.length === INITIATION_SIZE ? INITIATION_MAC1 : RESPONSE_MAC1;
}

/** The address bytes a cookie is bound to: 16-byte IP (v4-mapped for IPv4) and the port. */
export interface CookieSource {
  readonly address: Uint8Array;
  readonly port: number;
}

/** Scratch for the address bytes a cookie is bound to (one responder runs on one thread). */
const source = new Uint8Array(18);

function sourceBytes(src: CookieSource): Uint8Array {
  source.set(src.address.subarray(0, 16));
  source[16] = (src.port >>> 8) & 0xff;
  source[17] = src.port & 0xff;
  return source;
}

export class CookieChecker {
  private readonly mac1Key: Uint8Array;
  private readonly cookieKey: Uint8Array;
  private secret = new Uint8Array(KEY_LEN);
  private secretSetAt = -Infinity;

  constructor(
    ourPublicKey: Uint8Array,
    private readonly crypto: CryptoBackend = nodeCrypto,
  ) {
    this.mac1Key = labelKey(LABEL_MAC1, ourPublicKey, crypto.blake2s);
    this.cookieKey = labelKey(LABEL_COOKIE, ourPublicKey, crypto.blake2s);
  }

  checkMac1(msg: Uint8Array): boolean {
    const off = mac1Offset(msg);
    return equalConstantTime(
      mac(this.mac1Key, msg.subarray(0, off), this.crypto.blake2s),
      msg.subarray(off, off + MAC_LEN),
    );
  }

  /**
   * True when MAC2 matches the cookie we would give this source now. An
   * all-zero MAC2 (a sender holding no cookie: every message of a flood) is
   * refused without computing anything; MAC2 is no secret, so this leaks nothing.
   */
  checkMac2(msg: Uint8Array, src: CookieSource, now: number): boolean {
    if (now - this.secretSetAt > COOKIE_REFRESH_TIME) return false;
    const off = mac1Offset(msg) + MAC_LEN;
    const mac2 = msg.subarray(off, off + MAC_LEN);
    if (isZero(mac2)) return false;
    const cookie = mac(this.secret, sourceBytes(src), this.crypto.blake2s);
    const ok = equalConstantTime(mac(cookie, msg.subarray(0, off), this.crypto.blake2s), mac2);
    cookie.fill(0);
    return ok;
  }

  /** A cookie reply to `msg` (whose sender index is `senderIndex`), bound to `src`. */
  createReply(msg: Uint8Array, senderIndex: number, src: CookieSource, now: number, random: RandomBytes): Uint8Array {
    if (now - this.secretSetAt > COOKIE_REFRESH_TIME) {
      wipe(this.secret);
      this.secret = Uint8Array.from(random(KEY_LEN));
      this.secretSetAt = now;
    }
    const cookie = mac(this.secret, sourceBytes(src), this.crypto.blake2s);
    const off = mac1Offset(msg);
    const reply = new Uint8Array(COOKIE_REPLY_SIZE);
    writeHeader(reply, MessageType.CookieReply);
    writeU32(reply, COOKIE_RECEIVER, senderIndex);
    const nonce = random(XAEAD_NONCE_LEN);
    reply.set(nonce, COOKIE_NONCE);
    reply.set(
      xaeadSeal(this.cookieKey, nonce, cookie, msg.subarray(off, off + MAC_LEN), this.crypto.aead),
      COOKIE_SEALED,
    );
    cookie.fill(0);
    return reply;
  }
}

export class CookieGenerator {
  private readonly mac1Key: Uint8Array;
  private readonly cookieKey: Uint8Array;
  private cookie: Uint8Array | null = null;
  private cookieSetAt = -Infinity;
  private lastMac1: Uint8Array | null = null;

  constructor(
    peerPublicKey: Uint8Array,
    private readonly crypto: CryptoBackend = nodeCrypto,
  ) {
    this.mac1Key = labelKey(LABEL_MAC1, peerPublicKey, crypto.blake2s);
    this.cookieKey = labelKey(LABEL_COOKIE, peerPublicKey, crypto.blake2s);
  }

  /** Fills MAC1, and MAC2 when we hold a fresh cookie from this peer. */
  addMacs(msg: Uint8Array, now: number): void {
    const off = mac1Offset(msg);
    const mac1 = mac(this.mac1Key, msg.subarray(0, off), this.crypto.blake2s);
    msg.set(mac1, off);
    this.lastMac1 = mac1;
    const mac2Off = off + MAC_LEN;
    if (this.cookie !== null && now - this.cookieSetAt < COOKIE_REFRESH_TIME) {
      msg.set(mac(this.cookie, msg.subarray(0, mac2Off), this.crypto.blake2s), mac2Off);
    } else {
      msg.fill(0, mac2Off, mac2Off + MAC_LEN);
    }
  }

  /** Takes a cookie reply to our last handshake message; false if it does not decrypt. */
  consumeReply(reply: Uint8Array, now: number): boolean {
    if (this.lastMac1 === null) return false;
    const cookie = xaeadOpen(
      this.cookieKey,
      reply.subarray(COOKIE_NONCE, COOKIE_SEALED),
      reply.subarray(COOKIE_SEALED),
      this.lastMac1,
      this.crypto.aead,
    );
    if (cookie === null) return false;
    this.cookie = cookie;
    this.cookieSetAt = now;
    this.lastMac1 = null; // one cookie per handshake message
    return true;
  }
}
