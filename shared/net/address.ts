// IP addresses and prefixes, as net/netip keeps them: one place for their text
// forms and their arithmetic.
//
//   text    parseIp / tryParseIp / formatIp      "192.0.2.1", "2001:db8::1" (RFC 4291 section 2.2 in,
//                                                RFC 5952 section 4 out) <-> 4 or 16 bytes
//           parseCidr / formatCidr               "2001:db8::/32" <-> Cidr (host bits cleared)
//   sets    containsAddress, overlaps, equalBytes, hasHostBits
//   pools   firstHost (the gateway's address in a pool), lastAddress
//   names   isInterfaceName / interfaceNameProblem (shared/net/interface-name.ts)
//
// Addresses are plain bytes (4 for IPv4, 16 for IPv6), as on the wire, so the
// allowed-IPs trie and the packet path read them without conversion. The text
// forms are strict on purpose: decimal dotted quads without leading zeros (no
// octal or hex forms, which other parsers read differently), no zones, and no
// shortened IPv4 ("127.1"). This is why the parser is our own rather than
// ipaddr.js (whose parse() takes those lenient forms) or node:net (which
// validates text but gives no bytes). Special ranges: shared/net/special-ranges.ts.
// Pure: no I/O.

export { interfaceNameProblem, isInterfaceName, INTERFACE_NAME_MAX, INTERFACE_NAME_RULE } from './interface-name.js';

/** An IP prefix. `address` holds 4 or 16 bytes with every host bit zero. */
export interface Cidr {
  family: 4 | 6;
  address: Uint8Array;
  prefixLength: number;
}

export const IPV4_LEN = 4;
export const IPV6_LEN = 16;

// ---------------------------------------------------------------------------
// Text forms

/** Parses an IPv4 (dotted quad) or IPv6 (RFC 4291 section 2.2) address. Throws RangeError. */
export function parseIp(text: string): Uint8Array {
  const bytes = tryParseIp(text);
  if (bytes === null) throw new RangeError(`invalid IP address: ${JSON.stringify(text)}`);
  return bytes;
}

/** As parseIp, but null for anything that is not an address literal. */
export function tryParseIp(text: string): Uint8Array | null {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

/** Canonical text of a 4- or 16-byte address; IPv6 as RFC 5952 section 4 recommends. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === IPV4_LEN) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length === IPV6_LEN) return formatIpv6(bytes);
  throw new RangeError(`an IP address is 4 or 16 bytes, not ${bytes.length}`);
}

/**
 * Parses `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a /32 or /128).
 * Host bits are cleared, as `wg` does (`10.0.0.1/8` becomes `10.0.0.0/8`).
 * Throws RangeError on anything else.
 */
export function parseCidr(text: string): Cidr {
  const s = text.trim();
  const slash = s.indexOf('/');
  const address = tryParseIp(slash === -1 ? s : s.slice(0, slash));
  if (address === null) throw new RangeError(`invalid address in prefix ${JSON.stringify(text)}`);
  const maxLength = address.length * 8;
  let prefixLength = maxLength;
  if (slash !== -1) {
    const lengthText = s.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(lengthText) || Number(lengthText) > maxLength) {
      throw new RangeError(`invalid prefix length in ${JSON.stringify(text)} (0 to ${maxLength})`);
    }
    prefixLength = Number(lengthText);
  }
  maskBytes(address, prefixLength);
  return { family: address.length === IPV4_LEN ? 4 : 6, address, prefixLength };
}

/** `10.0.0.0/8`, `2001:db8::/32`. */
export function formatCidr(c: Cidr): string {
  return `${formatIp(c.address)}/${c.prefixLength}`;
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(IPV4_LEN);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    // Decimal only, no leading zeros (they would mean octal to some parsers).
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | null {
  if (!/^[0-9A-Fa-f:.]+$/.test(text)) return null; // also rejects zones ("%eth0")
  const gap = text.indexOf('::');
  if (gap !== -1 && text.indexOf('::', gap + 1) !== -1) return null;
  let head: number[] | null;
  let tail: number[] | null;
  if (gap === -1) {
    head = parseGroups(text, true);
    tail = [];
  } else {
    head = parseGroups(text.slice(0, gap), false);
    tail = parseGroups(text.slice(gap + 2), true);
  }
  if (head === null || tail === null) return null;
  const groups = head.length + tail.length;
  if (gap === -1 ? groups !== 8 : groups > 7) return null;
  const out = new Uint8Array(IPV6_LEN);
  head.forEach((g, i) => writeGroup(out, i, g));
  tail.forEach((g, i) => writeGroup(out, 8 - tail.length + i, g));
  return out;
}

/** 16-bit groups of one side of "::"; an embedded IPv4 address may end the last side. */
function parseGroups(text: string, mayEndWithIpv4: boolean): number[] | null {
  if (text === '') return [];
  const parts = text.split(':');
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part.includes('.')) {
      if (!mayEndWithIpv4 || i !== parts.length - 1) return null;
      const v4 = parseIpv4(part);
      if (v4 === null) return null;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(part)) return null;
      groups.push(parseInt(part, 16));
    }
  }
  return groups;
}

function writeGroup(out: Uint8Array, index: number, group: number): void {
  out[index * 2] = group >>> 8;
  out[index * 2 + 1] = group & 0xff;
}

function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!);
  // IPv4-mapped addresses keep the dotted quad (RFC 5952 section 5).
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  // The longest run of two or more zero groups becomes "::", the first one on
  // a tie (RFC 5952 section 4.2); hex is lower case without leading zeros.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestStart === -1) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/** Clears every bit past `prefixLength`, in place. */
function maskBytes(address: Uint8Array, prefixLength: number): void {
  for (let i = 0; i < address.length; i++) {
    const bitsHere = prefixLength - i * 8;
    if (bitsHere >= 8) continue;
    address[i] = bitsHere <= 0 ? 0 : address[i]! & (0xff << (8 - bitsHere));
  }
}

// ---------------------------------------------------------------------------
// Sets of addresses

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether `prefix` contains `address` (false across families). */
export function containsAddress(prefix: Cidr, address: Uint8Array): boolean {
  if (address.length !== prefix.address.length) return false;
  let bits = prefix.prefixLength;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i]! & mask) !== (prefix.address[i]! & mask)) return false;
  }
  return true;
}

/** Whether two prefixes share an address (one contains the other). */
export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  return a.prefixLength <= b.prefixLength ? containsAddress(a, b.address) : containsAddress(b, a.address);
}

/** Whether any bit of `address` past `prefixLength` is set. */
export function hasHostBits(address: Uint8Array, prefixLength: number): boolean {
  for (let i = 0; i < address.length; i++) {
    const bitsHere = Math.min(8, Math.max(0, prefixLength - i * 8));
    if ((address[i]! & (0xff >> bitsHere)) !== 0) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Pools

/** The first host address of a pool (its network address + 1): the gateway's. */
export function firstHost(pool: Cidr): Uint8Array {
  const out = Uint8Array.from(pool.address);
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = (out[i]! + 1) & 0xff;
    if (out[i] !== 0) break;
  }
  return out;
}

/** The last address of a prefix (IPv4: its broadcast address). */
export function lastAddress(pool: Cidr): Uint8Array {
  const out = Uint8Array.from(pool.address);
  for (let bit = pool.prefixLength; bit < out.length * 8; bit++) out[bit >> 3]! |= 0x80 >> (bit & 7);
  return out;
}
