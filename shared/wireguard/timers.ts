// The per-peer timer state machine of the whitepaper (section 6) as plain
// data: five deadlines (ms, NaN when not armed) and the events that arm or
// stop them. Nothing here sleeps or reads a clock: the device calls an event
// hook with `now` when something happens, and calls due(now) from its tick to
// learn which timers expired; it then acts (send an initiation, a keepalive,
// or wipe keys). Each hook says when it must be called.

import { KEEPALIVE_TIMEOUT, MAX_TIMER_HANDSHAKES, REJECT_AFTER_TIME, REKEY_TIMEOUT } from './constants.js';

export const Timer = {
  RetransmitHandshake: 1,
  SendKeepalive: 2,
  NewHandshake: 4,
  ZeroKeyMaterial: 8,
  PersistentKeepalive: 16,
} as const;
export type Timer = (typeof Timer)[keyof typeof Timer];

const ALL: readonly Timer[] = [
  Timer.RetransmitHandshake,
  Timer.SendKeepalive,
  Timer.NewHandshake,
  Timer.ZeroKeyMaterial,
  Timer.PersistentKeepalive,
];

export class PeerTimers {
  private readonly deadline = new Map<Timer, number>();
  /** Retransmissions of the current handshake attempt. */
  handshakeAttempts = 0;
  /** A keepalive is owed after the pending one (more data arrived meanwhile). */
  private needAnotherKeepalive = false;
  /** Persistent keepalive interval in ms; 0 is off. */
  persistentKeepalive = 0;

  isArmed(timer: Timer): boolean {
    return this.deadline.has(timer);
  }

  private arm(timer: Timer, at: number): void {
    this.deadline.set(timer, at);
  }

  private stop(timer: Timer): void {
    this.deadline.delete(timer);
  }

  /** The earliest armed deadline, or Infinity: lets the I/O layer sleep until then. */
  next(): number {
    let min = Infinity;
    for (const at of this.deadline.values()) if (at < min) min = at;
    return min;
  }

  /** Expired timers as a bitmask (disarmed as they are returned). */
  due(now: number): number {
    let mask = 0;
    for (const t of ALL) {
      const at = this.deadline.get(t);
      if (at !== undefined && at <= now) {
        this.deadline.delete(t);
        mask |= t;
      }
    }
    return mask;
  }

  /** Call when the peer is configured with an endpoint: with a persistent keepalive, the first goes at the next tick. */
  peerConfigured(): void {
    if (this.persistentKeepalive > 0) this.arm(Timer.PersistentKeepalive, 0);
  }

  /** Call after sending a transport packet that carries data (not a keepalive). */
  dataSent(now: number): void {
    if (!this.isArmed(Timer.NewHandshake)) this.arm(Timer.NewHandshake, now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT);
  }

  /** Call after receiving a transport packet that carries data. */
  dataReceived(now: number): void {
    if (!this.isArmed(Timer.SendKeepalive)) this.arm(Timer.SendKeepalive, now + KEEPALIVE_TIMEOUT);
    else this.needAnotherKeepalive = true;
  }

  /** Call after sending any authenticated packet: transport (data or keepalive) or handshake. */
  anyAuthenticatedPacketSent(): void {
    this.stop(Timer.SendKeepalive);
  }

  /** Call after receiving any authenticated packet: transport (data or keepalive) or handshake. */
  anyAuthenticatedPacketReceived(): void {
    this.stop(Timer.NewHandshake);
  }

  /** Call after sending or receiving any authenticated packet, to restart the persistent keepalive. */
  anyAuthenticatedPacketTraversal(now: number): void {
    if (this.persistentKeepalive > 0) this.arm(Timer.PersistentKeepalive, now + this.persistentKeepalive);
  }

  /** Call after sending a handshake initiation; `jitter` is 0..REKEY_TIMEOUT_JITTER_MAX ms. */
  handshakeInitiated(now: number, jitter: number): void {
    this.arm(Timer.RetransmitHandshake, now + REKEY_TIMEOUT + jitter);
  }

  /** Call when a handshake completes: response consumed, or first data on a responder's new session. */
  handshakeComplete(): void {
    this.stop(Timer.RetransmitHandshake);
    this.handshakeAttempts = 0;
  }

  /** Call when new session keys are derived: they are wiped at 3 × Reject-After-Time unless renewed. */
  sessionDerived(now: number): void {
    this.arm(Timer.ZeroKeyMaterial, now + REJECT_AFTER_TIME * 3);
  }

  /**
   * On RetransmitHandshake expiry: true to retry (attempts counted), false to
   * give up after Rekey-Attempt-Time; giving up stops the keepalive and
   * schedules the keys to be wiped.
   */
  retransmitExpired(now: number): boolean {
    if (this.handshakeAttempts >= MAX_TIMER_HANDSHAKES) {
      this.stop(Timer.SendKeepalive);
      if (!this.isArmed(Timer.ZeroKeyMaterial)) this.arm(Timer.ZeroKeyMaterial, now + REJECT_AFTER_TIME * 3);
      this.handshakeAttempts = 0;
      return false;
    }
    this.handshakeAttempts++;
    return true;
  }

  /** On SendKeepalive expiry, after the keepalive is sent: re-arm if more data arrived meanwhile. */
  keepaliveSent(now: number): void {
    if (this.needAnotherKeepalive) {
      this.needAnotherKeepalive = false;
      this.arm(Timer.SendKeepalive, now + KEEPALIVE_TIMEOUT);
    }
  }

  /** Stop everything (peer removed or keys wiped). */
  stopAll(): void {
    this.deadline.clear();
    this.needAnotherKeepalive = false;
    this.handshakeAttempts = 0;
  }
}
