// The gateway's nftables ruleset: NAT out of the uplink, TCP MSS clamping and
// client isolation, rendered from a desired state as text and applied in one
// `nft -f -` transaction into the one table the gateway owns (`inet meshgate`).
//
// Packet flow through the table (hooks of the inet family; other tables at the
// same hooks still see every packet, we never touch them):
//
//   client → TUN → forward ─┬─ mss_clamp (priority mangle): SYNs crossing the tunnel, MSS lowered to the MTU
//                           └─ forward (priority filter): from_clients
//                                 no conntrack entry (invalid/untracked) → drop  ct_invalid
//                                 source outside the pools            → drop  bad_source
//                                 out via the tunnel (client→client)  → drop  client_to_client
//                                 out via anything but the uplink     → drop  not_uplink
//                                 destination in allowPrivate         → accept
//                                 private/reserved destination        → drop  private_dst
//                                 anything else                       → accept
//                         → postrouting (srcnat): masquerade the IPv4 pool (and the IPv6 pool in nat66 mode)
//                           NAT only sees packets with a conntrack entry: one without would leave with its
//                           pool source, so from_clients drops those first.
//   uplink → forward → to_clients: established/related → accept, anything new → drop  inbound_new
//   other → forward → neither in nor out of the tunnel → drop  not_tunnel, for each family the host
//                     did not forward before meshgate turned forwarding on (hostForwarding), so the
//                     gateway routes for its clients only; the hook's policy stays accept for other tables
//   client → TUN → input → input_from_clients
//                                 source outside the pools            → drop  bad_source
//                                 established/related, DNS (udp/tcp 53) to the gateway's tunnel addresses → accept
//                                 anything else                       → drop  to_gateway
//
// Replacing the table: the text starts with `table inet meshgate {}` (creates
// it if missing), `delete table inet meshgate`, then the whole table. nft runs
// a file as one kernel transaction, so the old rules stay until the new ones
// are in place: there is never a moment without rules, applying the same state
// twice changes nothing, and a bad ruleset leaves the old one untouched.
// Named counters would restart from zero with the new table, so applyFirewall
// reads them first and writes their values into the new table (drops counted
// in the few milliseconds between the read and the replacement are lost).
//
// Everything embedded in the text is checked first (checkFirewallState):
// interface names come from the config file and must not be able to break out
// of their quotes.

import { CommandError, type CommandRunner } from '../shared/host/command.js';
import { CodedError } from '../shared/errors.js';
import {
  chainBlock,
  checkNames,
  isSafeTableName,
  mssClampRules,
  removeTableText,
  replaceTableLines,
  setBlock,
} from '../shared/host/nft-table.js';
import {
  containsAddress,
  formatCidr,
  formatIp,
  hasHostBits,
  isInterfaceName,
  type Cidr,
} from '../shared/net/address.js';
import { disjointPrefixes, PRIVATE_IPV4, PRIVATE_IPV6 } from '../shared/net/special-ranges.js';

export interface FirewallState {
  /** The one table the gateway owns, family inet (default 'meshgate'). */
  table: string;
  /** TUN interface name. */
  tunnel: string;
  /** Uplink interface name. */
  uplink: string;
  /** e.g. 100.64.0.0/16 */
  ipv4Pool: Cidr;
  /** e.g. fd12:3456:789a::/48 */
  ipv6Pool: Cidr;
  ipv6Mode: 'nat66' | 'routed';
  /** The gateway's tunnel addresses (first host of each pool). */
  gatewayIpv4: Uint8Array;
  gatewayIpv6: Uint8Array;
  /** Tunnel MTU → TCP MSS clamp (IPv4: mtu-40, IPv6: mtu-60). */
  mtu: number;
  /** Private/link-local destinations clients may reach anyway (through the uplink). */
  allowPrivate: Cidr[];
  /**
   * Whether the host forwarded each family before meshgate first turned forwarding
   * on (sysctl.ts forwardedBefore). Where it did not, forwarded traffic that
   * neither enters nor leaves the tunnel is dropped.
   */
  hostForwarding: { ipv4: boolean; ipv6: boolean };
}

export const DEFAULT_TABLE = 'meshgate';

export { isSafeTableName };

/** Named counters of the table, one per drop reason. Metric labels come from this list. */
export const FirewallCounters = [
  'ct_invalid', // from the tunnel without a conntrack entry (invalid or untracked): NAT would not rewrite it
  'bad_source', // from the tunnel with a source address outside the pools
  'client_to_client', // from the tunnel back into the tunnel
  'not_uplink', // from the tunnel towards any interface but the uplink
  'private_dst', // to a private or special-purpose destination (shared/net/special-ranges.ts)
  'to_gateway', // to the gateway host itself, other than DNS
  'inbound_new', // a new connection from outside towards a client
  'not_tunnel', // forwarded past the tunnel (neither in nor out) when the host did not forward before
] as const;
export type FirewallCounter = (typeof FirewallCounters)[number];

export interface CounterValue {
  packets: number;
  bytes: number;
}

/** The only service clients may reach on the gateway itself. */
export const DNS_PORT = 53;
const MTU_MIN = 576;
const MTU_MAX = 9000;

// -------------------------------------------------------------------- errors ----

export const FirewallErrorCodes = [
  'invalid-state', // the desired state cannot be rendered safely (names the field)
  'nft-failed', // nft exited non-zero (its message is included)
  'nft-output', // nft printed something we cannot read
] as const;
export type FirewallErrorCode = (typeof FirewallErrorCodes)[number];

export class FirewallError extends CodedError<FirewallErrorCode> {
  override readonly name = 'FirewallError';
}

// ---------------------------------------------------------------- validation ----

/**
 * Whether an interface name is safe inside an nft quoted string: the one rule
 * of shared/net/interface-name.ts, which the config loaders hold too (no
 * quotes, spaces, backslashes, no `*`, which nft reads as a wildcard).
 */
export function isSafeInterfaceName(name: unknown): name is string {
  return isInterfaceName(name);
}

function invalid(field: string, message: string): never {
  throw new FirewallError('invalid-state', `firewall: ${field}: ${message}`);
}

function checkCidr(field: string, c: unknown, family?: 4 | 6): Cidr {
  const cidr = c as Partial<Cidr> | null;
  if (typeof cidr !== 'object' || cidr === null || !(cidr.address instanceof Uint8Array))
    invalid(field, 'not a prefix');
  const fam = cidr.family;
  if (fam !== 4 && fam !== 6) invalid(field, 'family must be 4 or 6');
  if (family !== undefined && fam !== family) invalid(field, `must be an IPv${family} prefix`);
  const bytes = fam === 4 ? 4 : 16;
  if (cidr.address.length !== bytes) invalid(field, `an IPv${fam} address has ${bytes} bytes`);
  const len = cidr.prefixLength;
  if (typeof len !== 'number' || !Number.isInteger(len) || len < 0 || len > bytes * 8)
    invalid(field, `prefix length must be 0..${bytes * 8}`);
  if (hasHostBits(cidr.address, len)) invalid(field, `${formatIp(cidr.address)}/${len} has host bits set`);
  return cidr as Cidr;
}

/** Checks everything renderRuleset embeds; throws FirewallError('invalid-state') naming the field. */
export function checkFirewallState(s: FirewallState): void {
  if (typeof s !== 'object' || s === null) invalid('state', 'missing');
  checkNames(invalid, { table: s.table, interfaces: { tunnel: s.tunnel, uplink: s.uplink } });
  if (s.tunnel === s.uplink) invalid('uplink', 'must differ from the tunnel interface');
  const pool4 = checkCidr('ipv4Pool', s.ipv4Pool, 4);
  const pool6 = checkCidr('ipv6Pool', s.ipv6Pool, 6);
  if (pool4.prefixLength < 1 || pool4.prefixLength > 30) invalid('ipv4Pool', 'prefix length must be 1..30');
  if (pool6.prefixLength < 1 || pool6.prefixLength > 127) invalid('ipv6Pool', 'prefix length must be 1..127');
  if (s.ipv6Mode !== 'nat66' && s.ipv6Mode !== 'routed') invalid('ipv6Mode', 'must be "nat66" or "routed"');
  if (!(s.gatewayIpv4 instanceof Uint8Array) || s.gatewayIpv4.length !== 4)
    invalid('gatewayIpv4', 'must be a 4-byte address');
  if (!containsAddress(pool4, s.gatewayIpv4)) invalid('gatewayIpv4', `${formatIp(s.gatewayIpv4)} is outside ipv4Pool`);
  if (!(s.gatewayIpv6 instanceof Uint8Array) || s.gatewayIpv6.length !== 16)
    invalid('gatewayIpv6', 'must be a 16-byte address');
  if (!containsAddress(pool6, s.gatewayIpv6)) invalid('gatewayIpv6', `${formatIp(s.gatewayIpv6)} is outside ipv6Pool`);
  if (!Number.isInteger(s.mtu) || s.mtu < MTU_MIN || s.mtu > MTU_MAX) invalid('mtu', `must be ${MTU_MIN}..${MTU_MAX}`);
  if (!Array.isArray(s.allowPrivate)) invalid('allowPrivate', 'must be a list of prefixes');
  s.allowPrivate.forEach((c, i) => checkCidr(`allowPrivate[${i}]`, c));
  const hf = s.hostForwarding as Partial<FirewallState['hostForwarding']> | null;
  if (typeof hf !== 'object' || hf === null || typeof hf.ipv4 !== 'boolean' || typeof hf.ipv6 !== 'boolean')
    invalid('hostForwarding', 'must be { ipv4: boolean, ipv6: boolean }');
}

// ----------------------------------------------------------------- rendering ----

function counterValue(v: CounterValue | undefined): CounterValue {
  const ok = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  return v && ok(v.packets) && ok(v.bytes) ? v : { packets: 0, bytes: 0 };
}

/**
 * The nft text that replaces our table with the desired state: deterministic
 * (the same state gives the same text). `counters` (from firewallCounters)
 * become the starting values of the named counters; missing ones start at 0.
 * Throws FirewallError('invalid-state') for a state it cannot render safely.
 */
export function renderRuleset(s: FirewallState, counters: Record<string, CounterValue> = {}): string {
  checkFirewallState(s);
  const t = s.table;
  const tun = `"${s.tunnel}"`;
  const up = `"${s.uplink}"`;
  const pool4 = formatCidr(s.ipv4Pool);
  const pool6 = formatCidr(s.ipv6Pool);
  // Forwarding the host did not do before meshgate: none past the tunnel, in the families concerned.
  const notTunnel = `iifname != ${tun} oifname != ${tun} counter name "not_tunnel" drop`;
  const off = (['ipv4', 'ipv6'] as const).filter((family) => !s.hostForwarding[family]);
  const hostForward = off.length === 2 ? [notTunnel] : off.map((family) => `meta nfproto ${family} ${notTunnel}`);

  const lines: string[] = [
    ...replaceTableLines(
      t,
      'meshgate gateway firewall: generated from the gateway configuration, replaced as a whole on every apply.',
    ),
  ];
  for (const name of FirewallCounters) {
    const v = counterValue(counters[name]);
    lines.push(`\tcounter ${name} {`, `\t\tpackets ${v.packets} bytes ${v.bytes}`, '\t}', '');
  }
  lines.push(
    // From shared/net/special-ranges.ts, where each range names its RFC.
    ...setBlock('private4', 'ipv4_addr', PRIVATE_IPV4.map(formatCidr)),
    ...setBlock('private6', 'ipv6_addr', PRIVATE_IPV6.map(formatCidr)),
    ...setBlock('allow_private4', 'ipv4_addr', disjointPrefixes(s.allowPrivate, 4).map(formatCidr)),
    ...setBlock('allow_private6', 'ipv6_addr', disjointPrefixes(s.allowPrivate, 6).map(formatCidr)),
  );
  lines.push(
    ...chainBlock('mss_clamp', [
      'type filter hook forward priority mangle; policy accept;',
      `iifname ${tun} jump clamp`,
      `oifname ${tun} jump clamp`,
    ]),
    ...chainBlock('clamp', mssClampRules(s.mtu)),
    ...chainBlock('forward', [
      'type filter hook forward priority filter; policy accept;',
      `iifname ${tun} jump from_clients`,
      `oifname ${tun} jump to_clients`,
      ...hostForward,
    ]),
    ...chainBlock('client_source', [
      `ip saddr != ${pool4} counter name "bad_source" drop`,
      `ip6 saddr != ${pool6} counter name "bad_source" drop`,
    ]),
    ...chainBlock('from_clients', [
      'ct state invalid,untracked counter name "ct_invalid" drop',
      'jump client_source',
      `oifname ${tun} counter name "client_to_client" drop`,
      `oifname != ${up} counter name "not_uplink" drop`,
      'ip daddr @allow_private4 accept',
      'ip6 daddr @allow_private6 accept',
      'ip daddr @private4 counter name "private_dst" drop',
      'ip6 daddr @private6 counter name "private_dst" drop',
      'accept',
    ]),
    // Nothing from outside (the uplink in routed mode, or any other interface) opens a connection to a client.
    ...chainBlock('to_clients', ['ct state established,related accept', 'counter name "inbound_new" drop']),
    ...chainBlock('input', [
      'type filter hook input priority filter; policy accept;',
      `iifname ${tun} jump input_from_clients`,
    ]),
    ...chainBlock('input_from_clients', [
      'jump client_source',
      'ct state established,related accept',
      `ip daddr ${formatIp(s.gatewayIpv4)} meta l4proto { tcp, udp } th dport ${DNS_PORT} accept`,
      `ip6 daddr ${formatIp(s.gatewayIpv6)} meta l4proto { tcp, udp } th dport ${DNS_PORT} accept`,
      'counter name "to_gateway" drop',
    ]),
  );
  const nat = [
    'type nat hook postrouting priority srcnat; policy accept;',
    `oifname ${up} ip saddr ${pool4} masquerade`,
  ];
  if (s.ipv6Mode === 'nat66') nat.push(`oifname ${up} ip6 saddr ${pool6} masquerade`);
  lines.push(...chainBlock('postrouting', nat));
  lines.pop(); // no blank line before the closing brace
  lines.push('}', '');
  return lines.join('\n');
}

// ------------------------------------------------------------------- running ----

async function nft(r: CommandRunner, args: string[], input?: string): Promise<string> {
  try {
    return await r.run('nft', args, input === undefined ? undefined : { input });
  } catch (err) {
    const detail = err instanceof CommandError ? err.stderr.trim() || err.message : String(err);
    throw new FirewallError('nft-failed', `nft ${args.join(' ')}: ${detail}`, { cause: err });
  }
}

/**
 * Replaces our table with the desired state in one `nft -f -` transaction,
 * keeping the named counters' values. Idempotent; never touches other tables.
 */
export async function applyFirewall(r: CommandRunner, s: FirewallState): Promise<void> {
  checkFirewallState(s);
  let previous: Record<string, CounterValue> = {};
  try {
    previous = await firewallCounters(r, s.table);
  } catch {
    // no table yet (or unreadable counters): start from zero; a real nft problem surfaces below
  }
  await nft(r, ['-f', '-'], renderRuleset(s, previous));
}

/** Deletes our table if it exists (one transaction); nothing else. */
export async function removeFirewall(r: CommandRunner, table: string = DEFAULT_TABLE): Promise<void> {
  if (!isSafeTableName(table)) invalid('table', JSON.stringify(table));
  await nft(r, ['-f', '-'], removeTableText(table));
}

/** The named counters of our table (`nft -j list counters table inet NAME`). */
export async function firewallCounters(
  r: CommandRunner,
  table: string = DEFAULT_TABLE,
): Promise<Record<string, CounterValue>> {
  if (!isSafeTableName(table)) invalid('table', JSON.stringify(table));
  const text = await nft(r, ['-j', 'list', 'counters', 'table', 'inet', table]);
  return parseCounters(text, table);
}

/** Reads the JSON of `nft -j list counters`; keeps our table's counters only. */
export function parseCounters(text: string, table: string = DEFAULT_TABLE): Record<string, CounterValue> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new FirewallError('nft-output', 'nft -j list counters: not JSON');
  }
  const items = (doc as { nftables?: unknown } | null)?.nftables;
  if (!Array.isArray(items)) throw new FirewallError('nft-output', 'nft -j list counters: no "nftables" list');
  const out: Record<string, CounterValue> = {};
  for (const item of items) {
    const c = (item as { counter?: unknown } | null)?.counter as Record<string, unknown> | undefined;
    if (typeof c !== 'object' || c === null) continue; // metainfo and the like
    if (c.family !== 'inet' || c.table !== table) continue;
    const { name, packets, bytes } = c;
    if (typeof name !== 'string' || !Number.isSafeInteger(packets) || !Number.isSafeInteger(bytes))
      throw new FirewallError('nft-output', 'nft -j list counters: a counter without name, packets or bytes');
    out[name] = { packets: packets as number, bytes: bytes as number };
  }
  return out;
}
