// The client agent's kill switch (`killSwitch: true`, with `routes: [default]`):
// while the agent runs, nothing leaves the machine outside the tunnel. One
// nftables table of its own, `inet meshgate_killswitch`, rendered as text and
// replaced in one `nft -f -` transaction (shared/host/nft-table.ts), put up
// before the first lease and kept through renewals and reconnects (it never
// depends on the lease), deleted on a clean stop; after a SIGKILL the state
// file names it, and the next start or `meshgate client down` deletes it.
//
// Packet flow (output and forward hooks, policy drop; other tables at the same
// hooks see every packet too, and a drop here is final):
//
//   output/forward → allowed:
//     out of lo or the tunnel device                      → accept
//     the tunnel's own UDP: the socket's fwmark, or a
//       gateway endpoint's address and UDP port (every
//       endpoint of every gateway: failover needs them)   → accept
//     the mesh ranges (200::/7 Yggdrasil, fc00::/8 cjdns) → accept
//     link-local essentials: fe80::/10 and ff02::/16 (ND, MLD, DHCPv6),
//       ICMPv6 ND to any address, DHCPv4 (udp 68 → 67)    → accept
//     lan: outside: the connected subnets of the other
//       interfaces (sets lan4, lan6: read at start, then
//       every few seconds, replaced when they changed)    → accept
//   forward, with router: replies from the tunnel to the LAN → accept
//   anything else → counter "blocked", drop
//
// Nothing embedded in the text comes unchecked: interface names follow the
// one rule of shared/net/interface-name.ts, addresses are rendered from bytes.

import { CodedError } from '../shared/errors.js';
import type { CommandRunner } from '../shared/host/command.js';
import {
  chainBlock,
  checkNames,
  clientTable,
  NftTableErrorCodes,
  setBlock,
  tableText,
} from '../shared/host/nft-table.js';
import { formatCidr, formatIp, hasHostBits, type Cidr } from '../shared/net/address.js';
import { MESH_RANGES } from '../shared/host/policy-routing.js';

export const KILL_SWITCH_TABLE = 'meshgate_killswitch';
/** The named counter of the packets the kill switch dropped. */
export const BLOCKED_COUNTER = 'blocked';
const DHCP4_CLIENT_PORT = 68;
const DHCP4_SERVER_PORT = 67;
const LINK_LOCAL6 = 'fe80::/10';
const LINK_SCOPE_MULTICAST6 = 'ff02::/16';
const ND_TYPES = 'nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert';
const MARK_MAX = 0xffffffff;
const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

export interface KillSwitchState {
  /** The table (default KILL_SWITCH_TABLE). */
  table: string;
  /** The agent's TUN device: everything out of it is allowed. */
  tunnel: string;
  /** The fwmark the tunnel's UDP socket sets (the policy-routing table). */
  mark: number;
  /** Every gateway endpoint (at least one): 4 or 16 bytes (a v4-mapped address is taken as IPv4), and its UDP port. */
  endpoints: readonly { address: Uint8Array; port: number }[];
  /** Destinations allowed outside the tunnel (lan: outside: the connected subnets); empty with lan: tunnel. */
  lan: Cidr[];
  /** The router's LAN interface (client/router.ts): replies from the tunnel may be forwarded to it. */
  router?: string | null;
}

export const KillSwitchErrorCodes = NftTableErrorCodes;
export type KillSwitchErrorCode = (typeof KillSwitchErrorCodes)[number];

export class KillSwitchError extends CodedError<KillSwitchErrorCode> {
  override readonly name = 'KillSwitchError';
}

function invalid(field: string, message: string): never {
  throw new KillSwitchError('invalid-state', `kill switch: ${field}: ${message}`);
}

/** An IPv4 address out of its v4-mapped IPv6 form (the form Endpoint keeps); other addresses as they are. */
export function unmapAddress(address: Uint8Array): Uint8Array {
  const mapped = address.length === 16 && V4_MAPPED_PREFIX.every((b, i) => address[i] === b);
  return mapped ? address.slice(12) : address;
}

/** Checks everything renderKillSwitch embeds; throws KillSwitchError('invalid-state') naming the field. */
export function checkKillSwitchState(s: KillSwitchState): void {
  checkNames(invalid, { table: s.table, interfaces: { tunnel: s.tunnel } });
  if (!Number.isInteger(s.mark) || s.mark < 1 || s.mark > MARK_MAX) invalid('mark', `must be 1..${MARK_MAX}`);
  if (!Array.isArray(s.endpoints) || s.endpoints.length === 0) invalid('endpoints', 'none');
  s.endpoints.forEach((e, i) => {
    const a = e?.address;
    if (!(a instanceof Uint8Array) || (a.length !== 4 && a.length !== 16)) invalid(`endpoints[${i}]`, 'not an address');
    if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535) invalid(`endpoints[${i}]`, 'port must be 1..65535');
  });
  if (s.router != null) checkNames(invalid, { interfaces: { router: s.router } });
  s.lan.forEach((c, i) => {
    const bytes = c.family === 4 ? 4 : 16;
    if ((c.family !== 4 && c.family !== 6) || c.address.length !== bytes) invalid(`lan[${i}]`, 'not a prefix');
    if (!Number.isInteger(c.prefixLength) || c.prefixLength < 0 || c.prefixLength > bytes * 8)
      invalid(`lan[${i}]`, 'bad prefix length');
    if (hasHostBits(c.address, c.prefixLength)) invalid(`lan[${i}]`, 'has host bits set');
  });
}

/** The nft text that replaces the kill switch table: deterministic, the same state gives the same text. */
export function renderKillSwitch(s: KillSwitchState): string {
  checkKillSwitchState(s);
  const endpoints = s.endpoints.map((e) => {
    const address = unmapAddress(e.address);
    return `${address.length === 4 ? 'ip' : 'ip6'} daddr ${formatIp(address)} udp dport ${e.port} accept`;
  });
  const lan = (family: 4 | 6) => s.lan.filter((c) => c.family === family).map(formatCidr);
  // Router: the LAN goes into the tunnel (allowed below); the replies come back out of it.
  const replies =
    s.router != null ? [`iifname "${s.tunnel}" oifname "${s.router}" ct state established,related accept`] : [];
  const hook = (name: 'output' | 'forward') => [
    `type filter hook ${name} priority filter; policy drop;`,
    ...(name === 'forward' ? replies : []),
    'jump allowed',
    `counter name "${BLOCKED_COUNTER}" drop`,
  ];
  return tableText(s.table, 'meshgate client kill switch: nothing leaves outside the tunnel; replaced as a whole.', [
    `\tcounter ${BLOCKED_COUNTER} {`,
    '\t}',
    '',
    ...setBlock('lan4', 'ipv4_addr', lan(4)),
    ...setBlock('lan6', 'ipv6_addr', lan(6)),
    ...chainBlock('output', hook('output')),
    ...chainBlock('forward', hook('forward')),
    ...chainBlock('allowed', [
      'oifname "lo" accept',
      `oifname "${s.tunnel}" accept`,
      `meta mark ${s.mark} accept`,
      ...new Set(endpoints),
      `ip6 daddr { ${MESH_RANGES.map(formatCidr).join(', ')} } accept`,
      `ip6 daddr { ${LINK_LOCAL6}, ${LINK_SCOPE_MULTICAST6} } accept`,
      `icmpv6 type { ${ND_TYPES} } accept`,
      `udp sport ${DHCP4_CLIENT_PORT} udp dport ${DHCP4_SERVER_PORT} accept`,
      'ip daddr @lan4 accept',
      'ip6 daddr @lan6 accept',
    ]),
  ]);
}

/**
 * applyKillSwitch puts up (or replaces) the kill switch in one transaction; removeKillSwitch
 * deletes its table if it exists, nothing else.
 */
const killSwitchTable = clientTable<KillSwitchState>({
  table: KILL_SWITCH_TABLE,
  label: 'kill switch',
  error: KillSwitchError,
  render: renderKillSwitch,
});
export const { apply: applyKillSwitch, remove: removeKillSwitch } = killSwitchTable;

/**
 * The nft text that replaces only the LAN sets of a kill switch that is up,
 * in one transaction: the rules and the blocked counter stay as they are.
 */
export function renderKillSwitchLan(s: KillSwitchState): string {
  checkKillSwitchState(s);
  const lines: string[] = [];
  for (const [set, family] of [
    ['lan4', 4],
    ['lan6', 6],
  ] as const) {
    lines.push(`flush set inet ${s.table} ${set}`);
    const elements = s.lan.filter((c) => c.family === family).map(formatCidr);
    if (elements.length > 0) lines.push(`add element inet ${s.table} ${set} { ${elements.join(', ')} }`);
  }
  return lines.join('\n') + '\n';
}

/** Puts the LAN of `state` into the kill switch that is up (renderKillSwitchLan). */
export const updateKillSwitchLan = (r: CommandRunner, state: KillSwitchState): Promise<void> =>
  killSwitchTable.run(r, renderKillSwitchLan(state));

/**
 * The destinations `lan: outside` keeps outside the tunnel: the prefixes of
 * the addresses on every other interface but lo (from probeAddresses), except
 * link-local ones (allowed anyway), without duplicates.
 */
export function lanPrefixes(
  addresses: readonly { ifname: string | undefined; prefix: Cidr }[],
  tunnel: string,
): Cidr[] {
  const seen = new Map<string, Cidr>();
  for (const a of addresses) {
    if (a.ifname === tunnel || a.ifname === 'lo') continue;
    const text = formatCidr(a.prefix);
    if (a.prefix.family === 6 && a.prefix.address[0] === 0xfe && (a.prefix.address[1]! & 0xc0) === 0x80) continue;
    if (a.prefix.prefixLength === 0) continue; // never "everything"
    seen.set(text, a.prefix);
  }
  return [...seen.values()];
}
