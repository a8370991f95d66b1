// The state the device keeps for one remote peer: its keys and endpoint, the
// handshake in progress, up to three keypairs (previous, current, next), the
// packets staged while a handshake runs, its timers and its counters
// (bytes, and drops once the peer is known).
// Behaviour lives in device.ts; this file only holds and rotates state.

import type { Cidr } from './allowed-ips.js';
import { CookieGenerator } from './cookie.js';
import { newDropCounts, type DropCounts } from './errors.js';
import type { InitiationState, RemoteKeys } from './handshake.js';
import type { Keypair } from './keypair.js';
import type { CryptoBackend } from './crypto.js';
import { PeerTimers } from './timers.js';

/** A UDP address as the core needs it: bytes for cookies, a key for display and equality. */
export interface PeerEndpoint {
  /** 16 bytes, IPv4 v4-mapped. */
  readonly address: Uint8Array;
  readonly port: number;
  /** Canonical text, e.g. "192.0.2.1:51820" or "[2001:db8::1]:51820". */
  readonly key: string;
}

export interface PeerConfig {
  readonly publicKey: Uint8Array;
  readonly presharedKey?: Uint8Array | undefined;
  readonly allowedIps: readonly Cidr[];
  readonly endpoint?: PeerEndpoint | null | undefined;
  /** Seconds; 0 or absent is off. */
  readonly persistentKeepalive?: number | undefined;
}

export class Peer {
  readonly publicKey: Uint8Array;
  /** The public key as base64 text (as `wg` shows it): the peer's key in logs, maps and the API; not a client's name. */
  readonly keyText: string;
  readonly remote: RemoteKeys;
  readonly cookies: CookieGenerator;
  allowedIps: Cidr[];
  endpoint: PeerEndpoint | null;
  readonly timers = new PeerTimers();

  /** Our initiation waiting for a response, if any. */
  initiation: InitiationState | null = null;
  /** When we last sent a handshake message (initiation or response): initiations wait Rekey-Timeout after it. */
  lastHandshakeSentAt = -Infinity;
  /** The initiation waiting now was sent again at once after a cookie reply (allowed once per attempt). */
  initiationResentForCookie = false;
  /** Greatest TAI64N timestamp accepted from this peer: older initiations are replays. */
  latestTimestamp: Uint8Array | null = null;
  lastInitiationConsumedAt = -Infinity;
  /** Set when we re-keyed because the session neared Reject-After-Time on receive. */
  sentLastMinuteHandshake = false;

  previous: Keypair | null = null;
  current: Keypair | null = null;
  /** A responder's new keypair, unused until the initiator's first packet confirms it. */
  next: Keypair | null = null;

  /** Copies of packets waiting for a session. */
  staged: Uint8Array[] = [];

  rxBytes = 0;
  txBytes = 0;
  /** Drops of this peer's packets (also counted in the device's totals). */
  readonly drops: DropCounts = newDropCounts();
  /** Wall-clock ms of the latest completed handshake, 0 if none. */
  lastHandshakeWall = 0;

  constructor(config: PeerConfig, remote: RemoteKeys, keyText: string, crypto: CryptoBackend) {
    this.publicKey = config.publicKey;
    this.keyText = keyText;
    this.remote = remote;
    this.cookies = new CookieGenerator(config.publicKey, crypto);
    this.allowedIps = [...config.allowedIps];
    this.endpoint = config.endpoint ?? null;
    this.timers.persistentKeepalive = (config.persistentKeepalive ?? 0) * 1000;
  }

  /** Responder: a new keypair waits as `next` until the initiator uses it. Returns the keypairs to retire. */
  installNext(kp: Keypair): Keypair[] {
    const retired = [this.next, this.previous];
    this.next = kp;
    this.previous = null;
    return retired.filter((k) => k !== null);
  }

  /** Initiator: a new keypair is current at once; the old current stays as previous. Returns the keypairs to retire. */
  installCurrent(kp: Keypair): Keypair[] {
    const retired = [this.previous];
    if (this.next !== null) {
      // A responder session never confirmed: it takes previous's place, current goes.
      retired.push(this.current);
      this.previous = this.next;
      this.next = null;
    } else {
      this.previous = this.current;
    }
    this.current = kp;
    return retired.filter((k) => k !== null);
  }

  /** Responder: the initiator used `next`, which becomes current. Returns the keypairs to retire. */
  confirmNext(): Keypair[] {
    const retired = this.previous;
    this.previous = this.current;
    this.current = this.next;
    this.next = null;
    return retired === null ? [] : [retired];
  }

  /** Every keypair the peer holds (for wiping and index cleanup). */
  keypairs(): Keypair[] {
    const out: Keypair[] = [];
    if (this.previous) out.push(this.previous);
    if (this.current) out.push(this.current);
    if (this.next) out.push(this.next);
    return out;
  }
}
