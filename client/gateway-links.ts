// The agent's gateways on its one device: a peer and a lease client each.
//
//   peer       one WireGuard peer per configured gateway, at the endpoint in
//              use; only the gateway routed through (failover.ts) owns the
//              allowed IPs 0.0.0.0/0 and ::/0, the others none: what they send
//              past the lease protocol is dropped by the source check
//   leases     each gateway's own LeaseClient (a lease is held from every
//              gateway, so a switch needs no round trip); the device's control
//              hook hands a lease packet to the client of the peer it came from
//   resolve    endpoints named by DNS are resolved at start; one that does not
//              resolve is left out (null) and asked again each time its
//              gateway is retried (failover.ts), so a backup gateway whose name
//              fails cannot stop the agent; only when no endpoint of any gateway
//              resolves does the start fail
//   describe   a lease in text form, for logs and the status

import { resolveEndpoint } from '../shared/io/endpoint.js';
import type { Endpoint } from '../shared/io/types.js';
import type { Logger } from '../shared/log.js';
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
  /** In the configured order; null: a name that did not resolve (yet). */
  readonly endpoints: (Endpoint | null)[];
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
  endpoints: readonly (readonly (Endpoint | null)[])[],
  random: RandomBytes,
  into: GatewayLink[],
  events: GatewayLinkEvents,
): GatewayLink[] {
  // A lease from one gateway must not hold the endpoint of any (lease-check.ts).
  const check = { endpoints: resolvedOf(endpoints).map((e) => e.address) };
  config.gateways.forEach((gw, index) => {
    const eps = endpoints[index]!;
    const peer = device.addPeer({
      publicKey: gw.publicKey,
      presharedKey: gw.presharedKey ?? undefined,
      allowedIps: [],
      endpoint: eps.find((e) => e !== null) ?? null, // the first that resolved
      persistentKeepalive: config.persistentKeepalive,
    });
    const link: GatewayLink = {
      index,
      config: gw,
      endpoints: [...eps],
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

/** The endpoints that resolved, all gateways together. */
export const resolvedOf = (endpoints: readonly (readonly (Endpoint | null)[])[]): Endpoint[] =>
  endpoints.flat().filter((e): e is Endpoint => e !== null);

/**
 * Every gateway's endpoints, resolved; a name that does not resolve is logged
 * (endpoint-unresolved) and left null. Throws the first error when none resolves.
 */
export async function resolveGatewayEndpoints(
  config: ClientConfig,
  log: Logger,
  resolve: (text: string) => Promise<Endpoint> = (t) => resolveEndpoint(t),
): Promise<(Endpoint | null)[][]> {
  let first: unknown = null;
  const out = await Promise.all(
    config.gateways.map((g) =>
      Promise.all(
        g.endpoints.map((text) =>
          resolve(text).catch((e: unknown) => {
            first ??= e;
            log.warn(
              { event: 'endpoint-unresolved', gateway: g.name, endpoint: text, err: (e as Error).message },
              `gateway ${g.name}: ${text} did not resolve; asked again when the gateway is retried`,
            );
            return null;
          }),
        ),
      ),
    ),
  );
  if (resolvedOf(out).length === 0) throw first;
  return out;
}

/**
 * Asks again for the endpoints of `link` that did not resolve; each that does is
 * taken (and logged), and `use` is called with its index (to put it in use if it
 * is the one the failover state points at).
 */
export function retryUnresolved(
  link: GatewayLink,
  log: Logger,
  resolve: (text: string) => Promise<Endpoint>,
  use: (index: number) => void,
): void {
  link.endpoints.forEach((e, i) => {
    if (e !== null) return;
    const text = link.config.endpoints[i]!;
    resolve(text).then(
      (ep) => {
        if (link.endpoints[i] !== null) return;
        link.endpoints[i] = ep;
        log.info(
          { event: 'endpoint-resolved', gateway: link.config.name, endpoint: text, address: ep.key },
          `gateway ${link.config.name}: ${text} is ${ep.key}`,
        );
        use(i);
      },
      (err: unknown) =>
        log.debug({ event: 'endpoint-unresolved', gateway: link.config.name, endpoint: text, err: String(err) }),
    );
  });
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
