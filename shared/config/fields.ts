// Field validators shared by meshgate's YAML configuration loaders (the
// gateway's gateway/config.ts and the client agent's client/config.ts): keys,
// interface names, addresses, prefixes, endpoints, listening addresses. Each
// takes the text and the field path, returns the value, and throws a
// FieldError naming the field; the loaders add the file name. No validator
// repeats a key's value in a message: values pass through redact.ts first.
//
// Related: the YAML front end is yaml.ts, key files are key-file.ts, the
// error class and its codes are config-error.ts, address arithmetic is
// shared/net/address.ts.

import { EndpointError, parseEndpoint as parseIoEndpoint } from '../io/endpoint.js';
import {
  equalBytes,
  formatCidr,
  formatIp,
  INTERFACE_NAME_RULE,
  isInterfaceName,
  overlaps,
  parseCidr,
  tryParseIp,
  type Cidr,
} from '../net/address.js';
import { isLinkLocalV6, isV4Mapped, MESH, NOT_UNICAST } from '../net/special-ranges.js';
import { dh, isZero, wipe, type PrivateKeyHandle } from '../wireguard/crypto.js';
import { parseKey } from '../wireguard/keys.js';
import { CONFIG_ERROR_CODES, FieldError, type ConfigErrorCode } from './config-error.js';
import { isDnsName } from './hostname.js';
import { mayHoldKey, show } from './redact.js';

export { CONFIG_ERROR_CODES, FieldError, show, type ConfigErrorCode };

/** A public key written in the configuration; the value is never echoed. */
export function keyField(text: string, field: string): Uint8Array {
  let key: Uint8Array;
  try {
    key = parseKey(text);
  } catch {
    throw new FieldError(field, 'invalid', "not a WireGuard key (44 characters of base64, ending in '=')");
  }
  if (isZero(key)) throw new FieldError(field, 'invalid', 'is all zeros, not a public key');
  return key;
}

/**
 * Refuses a peer's public key that gives no shared secret with `ownKey` (a
 * low-order point): no handshake with it can succeed.
 */
export function refuseLowOrder(ownKey: PrivateKeyHandle | Uint8Array, publicKey: Uint8Array, field: string): void {
  const shared = dh(ownKey, publicKey);
  if (shared === null) {
    throw new FieldError(field, 'invalid', 'is a low-order point: no handshake with it can succeed');
  }
  wipe(shared);
}

/** An interface name, by the one rule (shared/net/interface-name.ts): what the TUN, ip and nft all accept. */
export function interfaceName(text: string, field: string): string {
  if (!isInterfaceName(text)) {
    throw new FieldError(field, 'invalid', `${show(text)} is not an interface name (${INTERFACE_NAME_RULE})`);
  }
  return text;
}

/** An IPv4 or IPv6 address literal, optionally of one family. */
export function ipLiteral(text: string, field: string, family?: 4 | 6): Uint8Array {
  const address = tryParseIp(text.trim());
  if (address === null) {
    const what = family === 4 ? 'an IPv4 address' : family === 6 ? 'an IPv6 address' : 'an IP address';
    throw new FieldError(field, 'invalid', `${show(text)} is not ${what}`);
  }
  if (family !== undefined && address.length !== (family === 4 ? 4 : 16)) {
    throw new FieldError(field, 'invalid', `${show(text)} is not an IPv${family} address`);
  }
  return address;
}

/**
 * A prefix written without host bits ("100.64.0.0/16"; "100.64.0.5/16" is
 * refused with the prefix it probably means). A bare address is a /32 or /128
 * unless `requireLength`.
 */
export function strictPrefix(text: string, field: string, opts: { family?: 4 | 6; requireLength: boolean }): Cidr {
  const s = text.trim();
  const slash = s.indexOf('/');
  if (opts.requireLength && slash < 0) {
    throw new FieldError(field, 'invalid', `${show(text)} is not a prefix (address/length, e.g. 100.64.0.0/16)`);
  }
  const address = tryParseIp(slash < 0 ? s : s.slice(0, slash));
  let cidr: Cidr | null = null;
  try {
    cidr = parseCidr(s);
  } catch {
    // refused below
  }
  if (address === null || cidr === null) {
    throw new FieldError(field, 'invalid', `${show(text)} is not an IP prefix (address/length, e.g. 192.168.77.0/24)`);
  }
  if (opts.family !== undefined && cidr.family !== opts.family) {
    throw new FieldError(field, 'invalid', `${show(text)} is not an IPv${opts.family} prefix`);
  }
  if (!equalBytes(address, cidr.address)) {
    throw new FieldError(field, 'invalid', `${show(text)} has host bits set (did you mean ${formatCidr(cidr)}?)`);
  }
  return cidr;
}

/** Entries of a list field, each checked by `parse`, with duplicates refused. */
export function uniqueList<T extends Uint8Array | Cidr>(
  items: readonly string[],
  field: string,
  parse: (text: string, field: string) => T,
): T[] {
  const seen = new Map<string, number>();
  return items.map((text, i) => {
    const value = parse(text, `${field}[${i}]`);
    const key = value instanceof Uint8Array ? formatIp(value) : formatCidr(value);
    const first = seen.get(key);
    if (first !== undefined) throw new FieldError(`${field}[${i}]`, 'duplicate', `${key} is ${field}[${first}] too`);
    seen.set(key, i);
    return value;
  });
}

/** Ranges a tunnel pool or a tunnel route must stay out of, and why. */
const SPECIAL = [...NOT_UNICAST, ...MESH];

export function refuseSpecial(cidr: Cidr, field: string, what: string): void {
  for (const special of SPECIAL) {
    if (overlaps(cidr, special.prefix)) {
      throw new FieldError(
        field,
        'conflict',
        `${formatCidr(cidr)} overlaps ${formatCidr(special.prefix)} (${special.why}), which cannot be ${what}`,
      );
    }
  }
}

/** An endpoint as checked by endpointField. */
export interface CheckedEndpoint {
  /** As written (trimmed): "192.0.2.1:51820", "[200:1::1]:51820", "[fe80::1%wlan0]:51820", "gw.example.net:51820". */
  text: string;
  /** The address when the host is an IP literal (4 or 16 bytes); null for a DNS name, resolved by whoever connects. */
  address: Uint8Array | null;
}

/**
 * `host:port` or `[IPv6]:port` (a link-local address may carry a %zone); host
 * is an IP literal or a DNS name. Checked with the data path's own parser
 * (shared/io/endpoint.ts), without looking at the host's interfaces or DNS.
 */
export function endpointField(text: string, field: string): CheckedEndpoint {
  const s = text.trim();
  const anyZone = { ifindex: (name: string) => (isInterfaceName(name) ? 1 : undefined) };
  try {
    const ep = parseIoEndpoint(s, anyZone);
    if (s.startsWith('[') && isV4Mapped(ep.address)) {
      throw new FieldError(
        field,
        'invalid',
        'brackets are only for IPv6 addresses (192.0.2.1:51820, [2001:db8::1]:51820)',
      );
    }
    return { text: s, address: isV4Mapped(ep.address) ? ep.address.slice(12) : ep.address };
  } catch (e) {
    if (!(e instanceof EndpointError)) throw e;
    if (e.code === 'hostname') {
      const colon = s.lastIndexOf(':');
      const host = s.slice(0, colon);
      if (isDnsName(host)) return { text: s, address: null };
      throw new FieldError(field, 'invalid', `${show(host)} is neither an IP address nor a DNS name`);
    }
    const unbracketedIpv6 = !s.startsWith('[') && s.split(':').length > 2;
    if (e.code === 'syntax' && !unbracketedIpv6) {
      throw new FieldError(field, 'invalid', `${show(s)} is not host:port or [IPv6]:port`);
    }
    throw new FieldError(field, 'invalid', mayHoldKey(e.message) ? 'not host:port or [IPv6]:port' : e.message);
  }
}

/**
 * A listening address: an IP literal, a link-local IPv6 one optionally with a
 * %zone. Returns its canonical text and its bytes (4 or 16).
 */
export function listenAddressField(text: string, field: string): { text: string; address: Uint8Array } {
  const s = text.trim();
  const pct = s.indexOf('%');
  const address = ipLiteral(pct < 0 ? s : s.slice(0, pct), field);
  if (pct < 0) return { text: formatIp(address), address };
  const zone = s.slice(pct + 1);
  if (!isLinkLocalV6(address))
    throw new FieldError(field, 'invalid', `a %zone is only for a link-local IPv6 address (fe80::/10)`);
  if (!isInterfaceName(zone)) throw new FieldError(field, 'invalid', `${show(zone)} is not an interface name`);
  return { text: `${formatIp(address)}%${zone}`, address };
}
