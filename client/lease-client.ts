// The client agent's end of the in-band lease protocol (docs/lease-protocol.md).
// A small state machine that takes the time as an argument:
//
//   requestIfDue(now) → a REQUEST packet when one should go out (no lease
//               yet: every 2 s; with a lease: from half its lifetime on,
//               every 2 s); nextRequestAt() says when, for the agent's timer
//   handle    → a decrypted packet from fe80::1 udp/4790 to our port → LEASE
//               or REFUSED for our outstanding request id → checkLease →
//               onLease (then onQuota with its QUOTA, or null), or
//               onBadLease (the grant is dropped whole: the previous good
//               lease, if any, stays, and requests go on every 2 s) / onRefused;
//               STATUS with request id 0 → onQuota
//   release() → a RELEASE packet for a clean exit
//   probe(now) → a PROBE (failover health probe); the HEALTH that answers it
//               → onHealth with the gateway's uplink state and the round trip

import { buildLeasePacket, isFromLeaseServer, LEASE_SERVER_END, parseLeasePacket } from '../shared/lease/carrier.js';
import { LeaseType, type LeaseErrorCode, type LeaseGrant, type QuotaInfo } from '../shared/lease/message.js';
import type { RandomBytes } from '../shared/wireguard/crypto.js';
import { CONSUMED, NOT_MINE, type ControlHandler } from '../shared/wireguard/control.js';
import { checkLease, type LeaseCheckContext, type LeaseProblem } from './lease-check.js';

export const LEASE_RETRY_MS = 2_000;
/** PROBEs remembered for their answer (older ones are taken as lost). */
const PROBES_KEPT = 8;

export interface LeaseClientEvents {
  onLease(grant: LeaseGrant, now: number): void;
  onRefused(error: LeaseErrorCode, now: number): void;
  /** A LEASE that checkLease refused; nothing of it was taken (counted in badLeases either way). */
  onBadLease?(problem: LeaseProblem, grant: LeaseGrant, now: number): void;
  /** The quota state of an accepted LEASE (null: it carried none) or of a STATUS. */
  onQuota?(quota: QuotaInfo | null, now: number): void;
  /** A HEALTH answering one of our PROBEs: the gateway's uplink state and the round trip (ms). */
  onHealth?(uplinkUp: boolean, rttMs: number, now: number): void;
}

export class LeaseClient {
  lease: LeaseGrant | null = null;
  private obtainedAt = 0;
  private lastSent = -Infinity;
  private requestId: number;
  private readonly address: Uint8Array;
  private readonly port: number;
  /** Replies that were not for us or malformed. */
  ignored = 0;
  /** LEASE answers refused by checkLease. */
  badLeases = 0;
  /** PROBEs out, oldest first: request id and when it left. */
  private probes: { id: number; sentAt: number }[] = [];

  constructor(
    private readonly random: RandomBytes,
    private readonly events: LeaseClientEvents,
    /** What checkLease needs to know about this agent (the gateway's endpoint). */
    private readonly checkContext: LeaseCheckContext = {},
  ) {
    // A random link-local source fe80::/64 + 64 random bits, and an ephemeral port.
    this.address = new Uint8Array(16);
    this.address[0] = 0xfe;
    this.address[1] = 0x80;
    this.address.set(random(8), 8);
    const p = random(2);
    this.port = 49152 + (((p[0]! << 8) | p[1]!) % 16384);
    this.requestId = this.newId();
  }

  private newId(): number {
    const r = this.random(4);
    return ((r[0]! << 24) | (r[1]! << 16) | (r[2]! << 8) | r[3]!) >>> 0;
  }

  private packet(
    type: typeof LeaseType.Request | typeof LeaseType.Release | typeof LeaseType.Probe,
    requestId = this.requestId,
  ): Uint8Array {
    return buildLeasePacket({ address: this.address, port: this.port }, LEASE_SERVER_END, { type, requestId });
  }

  /** A PROBE to send now; its HEALTH answer comes to onHealth. */
  probe(now: number): Uint8Array {
    const id = this.newId();
    this.probes.push({ id, sentAt: now });
    if (this.probes.length > PROBES_KEPT) this.probes.shift();
    return this.packet(LeaseType.Probe, id);
  }

  /** When the lease must be renewed (monotonic ms), or 0 without a lease. */
  renewAt(): number {
    return this.lease === null ? 0 : this.obtainedAt + (this.lease.lifetime * 1000) / 2;
  }

  /** Whether the lease is valid at `now` (held, and its lifetime not run out since it came). */
  validAt(now: number): boolean {
    return this.lease !== null && now < this.obtainedAt + this.lease.lifetime * 1000;
  }

  /** When requestIfDue() next gives a REQUEST (monotonic ms; -Infinity: at once). */
  nextRequestAt(): number {
    const retry = this.lastSent + LEASE_RETRY_MS;
    return this.lease === null ? retry : Math.max(this.renewAt(), retry);
  }

  /** A REQUEST to send now (taken as sent), or null when none is due. */
  requestIfDue(now: number): Uint8Array | null {
    if (this.lease !== null && now < this.renewAt()) return null;
    if (now - this.lastSent < LEASE_RETRY_MS) return null;
    this.lastSent = now;
    return this.packet(LeaseType.Request);
  }

  release(): Uint8Array {
    return this.packet(LeaseType.Release);
  }

  /** The device's control handler (DeviceOptions.control): answers are taken, nothing is sent back. */
  readonly handle: ControlHandler = (_peer, packet, now) => {
    if (!isFromLeaseServer(packet)) return NOT_MINE;
    const parsed = parseLeasePacket(packet);
    if (parsed === null || parsed.udp.destinationPort !== this.port) {
      this.ignored++;
      return CONSUMED;
    }
    const m = parsed.message;
    if (m.type === LeaseType.Status) {
      // Unsolicited: it answers no request, so it carries request id 0.
      if (m.requestId !== 0) this.ignored++;
      else this.events.onQuota?.(m.quota, now.mono);
      return CONSUMED;
    }
    if (m.type === LeaseType.Health) {
      const at = this.probes.findIndex((p) => p.id === m.requestId);
      if (at < 0) this.ignored++;
      else {
        const sentAt = this.probes[at]!.sentAt;
        this.probes.splice(0, at + 1); // it and every older one (lost or late)
        this.events.onHealth?.(m.uplinkUp, Math.max(0, now.mono - sentAt), now.mono);
      }
      return CONSUMED;
    }
    if (m.requestId !== this.requestId) {
      this.ignored++;
      return CONSUMED;
    }
    if (m.type === LeaseType.Lease) {
      const problem = checkLease(m.grant, this.checkContext);
      if (problem !== null) {
        // Same as a refusal: keep what we have, ask again after LEASE_RETRY_MS.
        this.badLeases++;
        this.requestId = this.newId();
        this.events.onBadLease?.(problem, m.grant, now.mono);
        return CONSUMED;
      }
      this.lease = m.grant;
      this.obtainedAt = now.mono;
      this.lastSent = -Infinity;
      this.requestId = this.newId();
      this.events.onLease(m.grant, now.mono);
      this.events.onQuota?.(m.quota ?? null, now.mono);
    } else if (m.type === LeaseType.Refused) {
      this.requestId = this.newId();
      this.events.onRefused(m.error, now.mono);
    } else {
      this.ignored++;
    }
    return CONSUMED;
  };
}
