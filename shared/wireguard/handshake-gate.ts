// The gate every handshake message passes before any Diffie-Hellman: MAC1
// must match our key; under load (more handshakes in a second than allowed,
// and for Under-Load-After since), MAC2 must carry a cookie for the sender's
// address, or a cookie reply goes back instead, and each source (IPv4
// address, IPv6 /64) is rate-limited. Whitepaper section 5.3.

import { UNDER_LOAD_AFTER, UNDER_LOAD_HANDSHAKES_PER_SECOND } from './constants.js';
import { CookieChecker } from './cookie.js';
import type { CryptoBackend, RandomBytes } from './crypto.js';
import type { Now, Sink } from './sink.js';
import type { DropReason } from './errors.js';
import { INITIATION_SENDER, MessageType, readU32, RESPONSE_SENDER } from './messages.js';
import type { PeerEndpoint } from './peer.js';
import { RateLimiter, rateLimitKey } from './ratelimiter.js';

export class HandshakeGate {
  private readonly cookies: CookieChecker;
  private readonly limiter = new RateLimiter();
  private loadWindowStart = -Infinity;
  private loadCount = 0;
  private underLoadUntil = -Infinity;

  constructor(
    publicKey: Uint8Array,
    crypto: CryptoBackend,
    private readonly random: RandomBytes,
    private readonly underLoadPerSecond = UNDER_LOAD_HANDSHAKES_PER_SECOND,
  ) {
    this.cookies = new CookieChecker(publicKey, crypto);
  }

  /**
   * Null when the initiation or response (of its exact size) may go on to the
   * handshake; else why it is dropped (for mac2-invalid, after a cookie reply
   * to `from` went to the sink).
   */
  check(data: Uint8Array, type: MessageType, from: PeerEndpoint, now: Now, sink: Sink): DropReason | null {
    if (!this.cookies.checkMac1(data)) return 'mac1-invalid';
    if (!this.isUnderLoad(now.mono)) return null;
    if (!this.cookies.checkMac2(data, from, now.mono)) {
      const sender = readU32(data, type === MessageType.Initiation ? INITIATION_SENDER : RESPONSE_SENDER);
      sink.toNetwork(this.cookies.createReply(data, sender, from, now.mono, this.random), from);
      return 'mac2-invalid';
    }
    if (!this.limiter.allow(rateLimitKey(from.address), now.mono)) return 'rate-limited';
    return null;
  }

  private isUnderLoad(now: number): boolean {
    if (now - this.loadWindowStart >= 1000) {
      this.loadWindowStart = now;
      this.loadCount = 0;
    }
    if (++this.loadCount > this.underLoadPerSecond) this.underLoadUntil = now + UNDER_LOAD_AFTER;
    return now < this.underLoadUntil;
  }
}
