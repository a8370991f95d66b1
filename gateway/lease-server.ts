// The gateway's end of the in-band lease protocol (docs/lease-protocol.md).
//
//   decrypted inner packet to fe80::1 udp/4790 (before the source check)
//     → parse IPv6/UDP (checksum) → decode message → per-peer rate limit
//     → REQUEST: remember its source address/port, look up the peer's lease
//       → LEASE (with QUOTA when quotaOf knows one) or REFUSED, returned to
//       the device, which sends it to that same peer only; RELEASE: counted,
//       the source forgotten, nothing sent; PROBE: HEALTH with the same
//       request id and UPLINK from uplinkUp(), to the probe's source, no
//       state kept (the failover health probe)
// Everything malformed is counted and never answered.
//
//   statusFor(peer) → an unsolicited STATUS (QUOTA, request id 0) to the
//     source of the peer's latest REQUEST; the gateway sends it on a quota
//     state change and every 60 s while the state is not ok

import {
  buildLeasePacket,
  isToLeaseServer,
  LEASE_SERVER_END,
  parseLeasePacket,
  type LeaseEnd,
} from '../shared/lease/carrier.js';
import {
  LeaseType,
  type LeaseErrorCode,
  type LeaseGrant,
  type LeaseMessage,
  type QuotaInfo,
} from '../shared/lease/message.js';
import { CONSUMED, NOT_MINE, type ControlHandler } from '../shared/wireguard/control.js';
import type { Peer } from '../shared/wireguard/peer.js';
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
  /** STATUS packets built by statusFor (each one is sent). */
  status: number;
  /** PROBEs answered with a HEALTH. */
  probes: number;
}

export interface LeaseServerOptions {
  /** The quota state of a client by its base64 public key; null: none to tell (no QUOTA, no STATUS). */
  quotaOf?: (publicKey: string) => QuotaInfo | null;
  /** Whether the gateway's uplink works now (option UPLINK of a HEALTH); default: always. */
  uplinkUp?: () => boolean;
}

export class LeaseServer {
  readonly counters: LeaseCounters = {
    requests: 0,
    granted: 0,
    refused: 0,
    released: 0,
    malformed: 0,
    rateLimited: 0,
    status: 0,
    probes: 0,
  };
  private readonly limiter = new RateLimiter(REQUESTS_PER_SECOND, REQUESTS_PER_SECOND);
  private readonly quotaOf: (publicKey: string) => QuotaInfo | null;
  private readonly uplinkUp: () => boolean;
  /** Where each peer's agent listens (the source of its latest answered REQUEST), by base64 public key. */
  private readonly agents = new Map<string, LeaseEnd>();

  /** `answer` gives the lease of a client by its base64 public key. */
  constructor(
    private readonly answer: (publicKey: string) => LeaseAnswer,
    options: LeaseServerOptions = {},
  ) {
    this.quotaOf = options.quotaOf ?? (() => null);
    this.uplinkUp = options.uplinkUp ?? (() => true);
  }

  /**
   * The STATUS packet (an inner IPv6/UDP packet for Device.sendPacket to this
   * peer) telling the peer's agent its quota state; null when the peer has sent
   * no REQUEST since it started or since its RELEASE, or quotaOf has nothing.
   * Counted as sent.
   */
  statusFor(peer: Peer): Uint8Array | null {
    const to = this.agents.get(peer.keyText);
    if (to === undefined) return null;
    const quota = this.quotaOf(peer.keyText);
    if (quota === null) return null;
    this.counters.status++;
    return buildLeasePacket(LEASE_SERVER_END, to, { type: LeaseType.Status, requestId: 0, quota });
  }

  /** The device's control handler (DeviceOptions.control): a LEASE, REFUSED or HEALTH to send back, or CONSUMED. */
  readonly handle: ControlHandler = (peer, packet, now) => {
    if (!isToLeaseServer(packet)) return NOT_MINE;
    const parsed = parseLeasePacket(packet);
    const message = parsed?.message ?? null;
    if (
      parsed === null ||
      message === null ||
      (message.type !== LeaseType.Request && message.type !== LeaseType.Release && message.type !== LeaseType.Probe)
    ) {
      this.counters.malformed++;
      return CONSUMED;
    }
    const udp = parsed.udp;
    if (!this.limiter.allow(peer.keyText, now.mono)) {
      this.counters.rateLimited++;
      return CONSUMED;
    }
    if (message.type === LeaseType.Release) {
      this.counters.released++;
      this.agents.delete(peer.keyText);
      return CONSUMED;
    }
    const from = { address: udp.source, port: udp.sourcePort };
    if (message.type === LeaseType.Probe) {
      this.counters.probes++;
      const health = { type: LeaseType.Health, requestId: message.requestId, uplinkUp: this.uplinkUp() } as const;
      return buildLeasePacket(LEASE_SERVER_END, from, health);
    }
    this.counters.requests++;
    this.agents.set(peer.keyText, { address: Uint8Array.from(udp.source), port: udp.sourcePort });
    const answer = this.answer(peer.keyText);
    let reply: LeaseMessage;
    if ('grant' in answer) {
      const quota = this.quotaOf(peer.keyText);
      reply = {
        type: LeaseType.Lease,
        requestId: message.requestId,
        grant: answer.grant,
        ...(quota === null ? {} : { quota }),
      };
    } else {
      reply = { type: LeaseType.Refused, requestId: message.requestId, error: answer.refused };
    }
    if ('grant' in answer) this.counters.granted++;
    else this.counters.refused++;
    return buildLeasePacket(LEASE_SERVER_END, from, reply);
  };
}
