// One transport session: the two keys a handshake derived, the send counter,
// and the receive replay window (whitepaper section 5.4.6).
//
//   seal: IP packet → [type 4 | receiver | counter | ChaCha20-Poly1305(packet || zero padding)]
//   open: the reverse; the caller checks the counter against the window only
//         after the tag verified, so a forged counter cannot move the window.

import {
  REJECT_AFTER_MESSAGES,
  REJECT_AFTER_TIME,
  REKEY_AFTER_MESSAGES,
  REPLAY_WINDOW_SIZE,
  PADDING_MULTIPLE,
} from './constants.js';
import { AEAD_NONCE_LEN, nodeAead, wipe, type AeadBackend } from './crypto.js';
import type { SessionKeys } from './handshake.js';
import {
  MessageType,
  TRANSPORT_COUNTER,
  TRANSPORT_HEADER_SIZE,
  TRANSPORT_RECEIVER,
  writeCounter,
  writeHeader,
  writeU32,
} from './messages.js';
import { ReplayWindow } from './replay.js';

/**
 * The largest send counter we use. Counters travel as 64-bit integers, but
 * JavaScript numbers are exact only below 2^53; Reject-After-Messages
 * (2^64 - 2^13 - 1) is therefore never reached here. Both limits are far
 * beyond what Rekey-After-Time allows in practice.
 */
export const MAX_SEND_COUNTER = Math.min(REJECT_AFTER_MESSAGES, Number.MAX_SAFE_INTEGER);

/**
 * The send counter at which the sender starts a new handshake. Rekey-After-
 * Messages (2^60) lies past MAX_SEND_COUNTER like Reject-After-Messages, so it
 * is brought into range the same way, leaving as many messages again for the
 * new handshake to finish before the keypair runs out.
 */
export const REKEY_SEND_COUNTER = Math.min(REKEY_AFTER_MESSAGES, Math.floor(MAX_SEND_COUNTER / 2));

/**
 * Plaintext length after zero padding (whitepaper 5.4.6): rounded up to a
 * multiple of 16, but never past the MTU (a packet longer than the MTU only
 * pads its last MTU-sized unit, as wireguard-go does).
 */
export function paddedLength(length: number, mtu: number): number {
  const lastUnit = mtu > 0 && length > mtu ? length % mtu : length;
  let padded = (lastUnit + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1);
  if (mtu > 0 && padded > mtu) padded = mtu;
  return length + (padded - lastUnit);
}

export class Keypair {
  readonly sendKey: Uint8Array;
  readonly receiveKey: Uint8Array;
  readonly localIndex: number;
  readonly remoteIndex: number;
  readonly isInitiator: boolean;
  readonly createdAt: number;
  sendCounter = 0;
  readonly replay = new ReplayWindow(REPLAY_WINDOW_SIZE);
  private readonly sendNonce = new Uint8Array(AEAD_NONCE_LEN);
  private readonly receiveNonce = new Uint8Array(AEAD_NONCE_LEN);

  /** `aead` is the device's ChaCha20-Poly1305 (DeviceOptions.crypto). */
  constructor(
    keys: SessionKeys,
    now: number,
    private readonly aead: AeadBackend = nodeAead,
  ) {
    this.sendKey = keys.sendKey;
    this.receiveKey = keys.receiveKey;
    this.localIndex = keys.localIndex;
    this.remoteIndex = keys.remoteIndex;
    this.isInitiator = keys.isInitiator;
    this.createdAt = now;
  }

  /** Usable for sending: younger than Reject-After-Time and counters left. */
  canSend(now: number): boolean {
    return now - this.createdAt < REJECT_AFTER_TIME && this.sendCounter < MAX_SEND_COUNTER;
  }

  canReceive(now: number): boolean {
    return now - this.createdAt < REJECT_AFTER_TIME;
  }

  /**
   * Whether to start a new handshake when sending on this session: after
   * Rekey-After-Messages on either side, after Rekey-After-Time only as its
   * initiator (so that the two sides do not both re-key at once), as
   * wireguard-go's keepKeyFreshSending does.
   */
  wantsRekey(now: number, rekeyAfterTime: number): boolean {
    return this.sendCounter >= REKEY_SEND_COUNTER || (this.isInitiator && now - this.createdAt >= rekeyAfterTime);
  }

  /**
   * Seals `packet` as a transport message into `out` (which must hold
   * TRANSPORT_OVERHEAD + padded length bytes) and returns its length. The
   * caller checked canSend().
   */
  seal(packet: Uint8Array, mtu: number, out: Uint8Array): number {
    const counter = this.sendCounter++;
    writeHeader(out, MessageType.Transport);
    writeU32(out, TRANSPORT_RECEIVER, this.remoteIndex);
    writeCounter(out, TRANSPORT_COUNTER, counter);
    writeCounter(this.sendNonce, 4, counter);
    const padded = paddedLength(packet.length, mtu);
    // Plaintext and padding go where the ciphertext will be, then are sealed over.
    out.set(packet, TRANSPORT_HEADER_SIZE);
    out.fill(0, TRANSPORT_HEADER_SIZE + packet.length, TRANSPORT_HEADER_SIZE + padded);
    const plain = out.subarray(TRANSPORT_HEADER_SIZE, TRANSPORT_HEADER_SIZE + padded);
    return (
      TRANSPORT_HEADER_SIZE + this.aead.seal(this.sendKey, this.sendNonce, null, plain, out, TRANSPORT_HEADER_SIZE)
    );
  }

  /**
   * Opens a transport message into `out` (at least as long as its plaintext)
   * and returns the plaintext as a view of `out`; null when the tag does not
   * verify. The counter bytes are used as they are.
   */
  open(datagram: Uint8Array, out: Uint8Array): Uint8Array | null {
    this.receiveNonce.set(datagram.subarray(TRANSPORT_COUNTER, TRANSPORT_HEADER_SIZE), 4);
    const n = this.aead.open(
      this.receiveKey,
      this.receiveNonce,
      null,
      datagram.subarray(TRANSPORT_HEADER_SIZE),
      out,
      0,
    );
    return n < 0 ? null : out.subarray(0, n);
  }

  /** Forget the keys (zero key material). */
  wipe(): void {
    wipe(this.sendKey, this.receiveKey);
    this.sendCounter = MAX_SEND_COUNTER;
  }
}
