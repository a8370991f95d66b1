// The client agent as a router for a LAN behind it (`router:` in the config,
// with `routes: [default]`): one nftables table of its own,
// `inet meshgate_router`, rendered as text and replaced in one `nft -f -`
// transaction (shared/host/nft-table.ts), put up at start, re-rendered when a
// lease changes the tunnel MTU, deleted on a clean stop; after a SIGKILL the
// state file names it and the next start or `meshgate client down` deletes it.
// Forwarding (ROUTER_SYSCTLS) goes through the HostConfigurator like every
// other sysctl the agent sets.
//
//   forward (policy accept; only LAN traffic is decided here):
//     LAN ↔ tunnel TCP SYN          → MSS clamped to the tunnel MTU
//     LAN → tunnel                  → accept
//     tunnel → LAN, established     → accept
//     LAN → LAN                     → accept
//     LAN → anything else, or
//     anything else → LAN           → counter "bypass", drop (the LAN never
//                                     leaves outside the tunnel)
//   postrouting (nat): forwarded packets (source not one of this machine's
//     addresses) out of the tunnel → masquerade into the lease address
//     (IPv4, and NAT66 for IPv6); the router's own packets already carry it.
//     With ipv6: routed and a /64 lease, sources inside that /64 (the LAN's
//     own addresses) go out as they are, counted in "routed".
//
// The LAN's packets are unmarked, so the policy rules of the default route
// (shared/host/policy-routing.ts) send them to the tunnel's table.

import { CodedError } from '../shared/errors.js';
import type { SysctlState } from '../shared/host/configurator.js';
import { formatCidr, hasHostBits, type Cidr } from '../shared/net/address.js';
import {
  chainBlock,
  clientTable,
  checkNames,
  mssClampRules,
  NftTableErrorCodes,
  tableText,
} from '../shared/host/nft-table.js';

export const ROUTER_TABLE = 'meshgate_router';
/** The named counter of the LAN packets that tried to bypass the tunnel. */
export const BYPASS_COUNTER = 'bypass';
/** The named counter of the LAN's IPv6 packets routed without NAT (ipv6: routed). */
export const ROUTED_COUNTER = 'routed';
/** Forwarding on, both families; put back on exit. */
export const ROUTER_SYSCTLS: readonly SysctlState[] = [
  { key: 'net.ipv4.ip_forward', value: '1' },
  { key: 'net.ipv6.conf.all.forwarding', value: '1' },
];
const MTU_MIN = 1280;
/** The prefix length a LAN is routed with (SLAAC needs a /64). */
export const ROUTED_PREFIX_LENGTH = 64;
const MTU_MAX = 65535;

export interface RouterState {
  /** The table (default ROUTER_TABLE). */
  table: string;
  /** The agent's TUN device. */
  tunnel: string;
  /** The LAN interface behind the router. */
  lan: string;
  /** The tunnel MTU (the lease's): TCP MSS is clamped to fit it. */
  mtu: number;
  /** The /64 routed to the LAN (ipv6: routed with a /64 lease): not NATed; null or absent: NAT66 for all. */
  routed6?: Cidr | null;
}

export const RouterErrorCodes = NftTableErrorCodes;
export type RouterErrorCode = (typeof RouterErrorCodes)[number];

export class RouterError extends CodedError<RouterErrorCode> {
  override readonly name = 'RouterError';
}

function invalid(field: string, message: string): never {
  throw new RouterError('invalid-state', `router: ${field}: ${message}`);
}

/** Checks everything renderRouter embeds; throws RouterError('invalid-state') naming the field. */
export function checkRouterState(s: RouterState): void {
  checkNames(invalid, { table: s.table, interfaces: { tunnel: s.tunnel, lan: s.lan } });
  if (s.tunnel === s.lan) invalid('lan', 'is the tunnel device');
  if (!Number.isInteger(s.mtu) || s.mtu < MTU_MIN || s.mtu > MTU_MAX) invalid('mtu', `must be ${MTU_MIN}..${MTU_MAX}`);
  const r = s.routed6;
  if (r != null) {
    if (r.family !== 6 || r.address.length !== 16 || r.prefixLength !== ROUTED_PREFIX_LENGTH)
      invalid('routed6', `must be an IPv6 /${ROUTED_PREFIX_LENGTH}`);
    if (hasHostBits(r.address, r.prefixLength)) invalid('routed6', 'has host bits set');
  }
}

/** The nft text that replaces the router table: deterministic, the same state gives the same text. */
export function renderRouter(s: RouterState): string {
  checkRouterState(s);
  const lan = `iifname "${s.lan}"`;
  return tableText(
    s.table,
    'meshgate client router: the LAN behind it goes through the tunnel only; replaced as a whole.',
    [
      `\tcounter ${BYPASS_COUNTER} {`,
      '\t}',
      ...(s.routed6 != null ? [`\tcounter ${ROUTED_COUNTER} {`, '\t}'] : []),
      '',
      ...chainBlock('forward', [
        'type filter hook forward priority filter; policy accept;',
        `${lan} oifname "${s.tunnel}" jump clamp`,
        `iifname "${s.tunnel}" oifname "${s.lan}" jump clamp`,
        `${lan} oifname "${s.tunnel}" accept`,
        `iifname "${s.tunnel}" oifname "${s.lan}" ct state established,related accept`,
        `${lan} oifname "${s.lan}" accept`,
        `${lan} counter name "${BYPASS_COUNTER}" drop`,
        `oifname "${s.lan}" counter name "${BYPASS_COUNTER}" drop`,
      ]),
      ...chainBlock('clamp', mssClampRules(s.mtu)),
      ...chainBlock('postrouting', [
        'type nat hook postrouting priority srcnat; policy accept;',
        ...(s.routed6 != null
          ? [`oifname "${s.tunnel}" ip6 saddr ${formatCidr(s.routed6)} counter name "${ROUTED_COUNTER}" accept`]
          : []),
        `oifname "${s.tunnel}" fib saddr type != local masquerade`,
      ]),
    ],
  );
}

/**
 * applyRouter puts up (or replaces) the router table in one transaction; removeRouter
 * deletes its table if it exists, nothing else.
 */
export const { apply: applyRouter, remove: removeRouter } = clientTable<RouterState>({
  table: ROUTER_TABLE,
  label: 'router',
  error: RouterError,
  render: renderRouter,
});
