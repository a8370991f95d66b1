// The gateway's end of the in-band lease protocol (docs/lease-protocol.md).
//
//   decrypted inner packet to fe80::1 udp/4790 (before the source check)
//     → parse IPv6/UDP (checksum) → decode message → per-peer rate limit
//     → REQUEST: look up the peer's lease → LEASE or REFUSED, returned to
//       the device, which sends it to that same peer only; RELEASE: counted,
//       nothing sent
// Everything malformed is counted and never answered.

import { buildUdp6, isToLeaseServer, LEASE_GATEWAY_ADDRESS, LEASE_PORT, parseUdp6 } from '../shared/lease/carrier.js';
import {
  decodeLeaseMessage,
  encodeLeaseMessage,
  LeaseType,
  type LeaseErrorCode,
  type LeaseGrant,
} from '../shared/lease/message.js';
import { CONSUMED, NOT_MINE, type ControlHandler } from '../shared/wireguard/control.js';
import { RateLimiter } from '../shared/wireguard/ratelimiter.js';

/** Requests per second a peer may send (burst of as many). */
const REQUESTS_PER_SECOND = 10;

export type LeaseAnswer = { grant: LeaseGrant } | { refused: LeaseErrorCode };

export interface LeaseCounters {
  requests: number;
  granted: number;
  refused: number;
  released: number;
  malformed: number;
  rateLimited: number;
}

export class LeaseServer {
  readonly counters: LeaseCounters = { requests: 0, granted: 0, refused: 0, released: 0, malformed: 0, rateLimited: 0 };
  private readonly limiter = new RateLimiter(REQUESTS_PER_SECOND, REQUESTS_PER_SECOND);

  /** `answer` gives the lease of a client by its base64 public key. */
  constructor(private readonly answer: (publicKey: string) => LeaseAnswer) {}

  /** The device's control handler (DeviceOptions.control): a LEASE or REFUSED to send back, or CONSUMED. */
  readonly handle: ControlHandler = (peer, packet, now) => {
    if (!isToLeaseServer(packet)) return NOT_MINE;
    const udp = parseUdp6(packet);
    const message = udp === null ? null : decodeLeaseMessage(udp.payload);
    if (
      udp === null ||
      message === null ||
      (message.type !== LeaseType.Request && message.type !== LeaseType.Release)
    ) {
      this.counters.malformed++;
      return CONSUMED;
    }
    if (!this.limiter.allow(peer.keyText, now.mono)) {
      this.counters.rateLimited++;
      return CONSUMED;
    }
    if (message.type === LeaseType.Release) {
      this.counters.released++;
      return CONSUMED;
    }
    this.counters.requests++;
    const answer = this.answer(peer.keyText);
    const reply =
      'grant' in answer
        ? encodeLeaseMessage({ type: LeaseType.Lease, requestId: message.requestId, grant: answer.grant })
        : encodeLeaseMessage({ type: LeaseType.Refused, requestId: message.requestId, error: answer.refused });
    if ('grant' in answer) this.counters.granted++;
    else this.counters.refused++;
    return buildUdp6({
      source: LEASE_GATEWAY_ADDRESS,
      destination: udp.source,
      sourcePort: LEASE_PORT,
      destinationPort: udp.sourcePort,
      payload: reply,
    });
  };
}
