// The agent's gateways on its one device: a peer and a lease client each.
//
//   peer       one WireGuard peer per configured gateway, at the endpoint in
//              use; only the gateway routed through (failover.ts) owns the
//              allowed IPs 0.0.0.0/0 and ::/0, the others none: what they send
//              past the lease protocol is dropped by the source check
//   leases     each gateway's own LeaseClient (a lease is held from every
//              gateway, so a switch needs no round trip); the device's control
//              hook hands a lease packet to the client of the peer it came from
//   describe   a lease in text form, for logs and the status

import type { Endpoint } from '../shared/io/types.js';
import type { LeaseErrorCode, LeaseGrant, QuotaInfo } from '../shared/lease/message.js';
import { formatIp, parseCidr, type Cidr } from '../shared/net/address.js';
import { NOT_MINE, type ControlHandler } from '../shared/wireguard/control.js';
import type { RandomBytes } from '../shared/wireguard/crypto.js';
import type { Device } from '../shared/wireguard/device.js';
import type { Peer } from '../shared/wireguard/peer.js';
import type { ClientConfig, ClientGateway } from './config.js';
import type { LeaseProblem } from './lease-check.js';
import { LeaseClient } from './lease-client.js';

/** The allowed IPs of the gateway routed through. */
export const EVERYTHING: readonly Cidr[] = [parseCidr('0.0.0.0/0'), parseCidr('::/0')];

export interface GatewayLink {
  readonly index: number;
  readonly config: ClientGateway;
  /** Resolved, in the configured order. */
  readonly endpoints: readonly Endpoint[];
  readonly peer: Peer;
  readonly leases: LeaseClient;
  /** The quota state this gateway last told (null: none). */
  quota: QuotaInfo | null;
}

export interface GatewayLinkEvents {
  onLease(link: GatewayLink, grant: LeaseGrant): void;
  onRefused(link: GatewayLink, code: LeaseErrorCode): void;
  onBadLease(link: GatewayLink, problem: LeaseProblem, grant: LeaseGrant): void;
  onQuota(link: GatewayLink, quota: QuotaInfo | null): void;
  onHealth(link: GatewayLink, uplinkUp: boolean, rttMs: number, now: number): void;
}

/** The device's control handler for the links added later by addGatewayLinks (by the peer a packet came from). */
export function linkControl(links: readonly GatewayLink[]): ControlHandler {
  return (peer, packet, now) => {
    const link = links.find((l) => l.peer === peer);
    return link === undefined ? NOT_MINE : link.leases.handle(peer, packet, now);
  };
}

/** One peer and lease client per configured gateway, at its first endpoint, with no allowed IPs yet. */
export function addGatewayLinks(
  device: Device,
  config: ClientConfig,
  endpoints: readonly (readonly Endpoint[])[],
  random: RandomBytes,
  into: GatewayLink[],
  events: GatewayLinkEvents,
): GatewayLink[] {
  // A lease from one gateway must not hold the endpoint of any (lease-check.ts).
  const check = { endpoints: endpoints.flat().map((e) => e.address) };
  config.gateways.forEach((gw, index) => {
    const eps = endpoints[index]!;
    const peer = device.addPeer({
      publicKey: gw.publicKey,
      presharedKey: gw.presharedKey ?? undefined,
      allowedIps: [],
      endpoint: eps[0]!,
      persistentKeepalive: config.persistentKeepalive,
    });
    const link: GatewayLink = {
      index,
      config: gw,
      endpoints: eps,
      peer,
      quota: null,
      leases: new LeaseClient(
        random,
        {
          onLease: (grant) => events.onLease(link, grant),
          onRefused: (code) => events.onRefused(link, code),
          onBadLease: (problem, grant) => events.onBadLease(link, problem, grant),
          onQuota: (q) => {
            link.quota = q;
            events.onQuota(link, q);
          },
          onHealth: (up, rtt, now) => events.onHealth(link, up, rtt, now),
        },
        check,
      ),
    };
    into.push(link);
  });
  return into;
}

/** A lease in text form, for logs and the control socket. */
export function describeLease(g: LeaseGrant) {
  return {
    ipv4: g.ipv4 ? `${formatIp(g.ipv4.address)}/${g.ipv4.prefixLength}` : null,
    ipv6: g.ipv6 ? `${formatIp(g.ipv6.address)}/${g.ipv6.prefixLength}` : null,
    gateway: [g.gatewayIpv4, g.gatewayIpv6].filter((x): x is Uint8Array => x !== null).map(formatIp),
    dns: g.dns.map(formatIp),
    mtu: g.mtu,
    lifetime: g.lifetime,
  };
}
