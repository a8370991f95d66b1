// UDP endpoints: parsing, formatting and the 24-byte record the native addon
// uses for packet sources (recvmmsg) and destinations (sendmmsg).
//
// Record layout (ENDPOINT_RECORD_LEN bytes, also in shared/native/io/udp.c):
//   0..15  IPv6 address; IPv4 as the v4-mapped ::ffff:a.b.c.d (RFC 4291 §2.5.5.2)
//   16..17 port, big-endian
//   18..19 zero
//   20..23 scope id (interface index), little-endian; 0 when not link-local
//
// An Endpoint's `key` is its canonical text: "192.0.2.1:51820" for IPv4 (also
// when it arrived v4-mapped on a dual-stack socket), "[2001:db8::1]:51820" for
// IPv6 in the RFC 5952 form, "[fe80::1%3]:51820" with the numeric scope for
// link-local. Yggdrasil (200::/7) and cjdns (fc00::/8) addresses are plain IPv6.
//
// parseEndpoint() takes literals only and never touches DNS; resolveEndpoint()
// also accepts "hostname:port".

import { readFileSync } from 'node:fs';
import { lookup as dnsLookup } from 'node:dns/promises';
import type { Endpoint, UdpBind } from './types.js';
import { CodedError } from '../errors.js';
import { pathMayHoldKey } from '../config/redact.js';
import { formatIp, isInterfaceName, tryParseIp } from '../net/address.js';
import { isLinkLocalV6, isV4Mapped } from '../net/special-ranges.js';

export { isV4Mapped };

export const ENDPOINT_RECORD_LEN = 24;
const REC_PORT = 16;
const REC_SCOPE = 20;

export const EndpointErrorCodes = [
  'syntax', // not "addr:port" / "[addr]:port"
  'address', // not a valid IPv4 or IPv6 literal
  'port', // not a decimal port in 1..65535
  'hostname', // a name where a literal is needed: use resolveEndpoint()
  'zone', // unknown interface, or a zone on a non-link-local address
  'resolve', // resolveEndpoint(): the name does not resolve
] as const;
export type EndpointErrorCode = (typeof EndpointErrorCodes)[number];

export class EndpointError extends CodedError<EndpointErrorCode> {
  override readonly name = 'EndpointError';
}

/** Resolves an interface name to its index (0 or undefined when there is none). */
export type IfIndexLookup = (name: string) => number | undefined;

export interface ParseOptions {
  /** Interface name → index for "%zone"; default: /sys/class/net/NAME/ifindex. */
  ifindex?: IfIndexLookup;
}

class EndpointValue implements Endpoint {
  readonly key: string;
  /** The 24-byte record, ready to copy into a send batch. */
  readonly record: Uint8Array;
  declare readonly via?: UdpBind;

  constructor(
    readonly address: Uint8Array,
    readonly port: number,
    readonly scopeId: number,
    via?: UdpBind,
  ) {
    this.key = formatKey(address, port, scopeId);
    const rec = new Uint8Array(ENDPOINT_RECORD_LEN);
    rec.set(address, 0);
    rec[REC_PORT] = port >>> 8;
    rec[REC_PORT + 1] = port & 0xff;
    new DataView(rec.buffer).setUint32(REC_SCOPE, scopeId, true);
    this.record = rec;
    // Not enumerable: equality checks, logs and JSON see the address only.
    if (via !== undefined) Object.defineProperty(this, 'via', { value: via, enumerable: false });
    Object.freeze(this);
  }

  toString(): string {
    return this.key;
  }
}

/**
 * Builds an Endpoint from an address (4 bytes IPv4 or 16 bytes IPv6, copied),
 * a port (0..65535) and a scope id; `via` is the bind it was received on.
 */
export function makeEndpoint(address: Uint8Array, port: number, scopeId = 0, via?: UdpBind): Endpoint {
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new EndpointError('port', `port out of range: ${port}`);
  if (!Number.isInteger(scopeId) || scopeId < 0 || scopeId > 0xffffffff)
    throw new EndpointError('zone', `scope id out of range: ${scopeId}`);
  let addr: Uint8Array;
  if (address.length === 4) {
    addr = new Uint8Array(16);
    addr[10] = 0xff;
    addr[11] = 0xff;
    addr.set(address, 12);
  } else if (address.length === 16) {
    addr = Uint8Array.from(address);
  } else {
    throw new EndpointError('address', `an address has 4 or 16 bytes, not ${address.length}`);
  }
  return new EndpointValue(addr, port, isV4Mapped(addr) ? 0 : scopeId, via);
}

/** Reads the 24-byte record at `offset` (as written by the addon); `via` is the bind it was received on. */
export function endpointFromBytes(record: Uint8Array, offset = 0, via?: UdpBind): Endpoint {
  if (!Number.isInteger(offset) || offset < 0 || offset + ENDPOINT_RECORD_LEN > record.length)
    throw new RangeError(`endpoint record needs ${ENDPOINT_RECORD_LEN} bytes at offset ${offset}`);
  const address = record.slice(offset, offset + 16);
  const port = (record[offset + REC_PORT]! << 8) | record[offset + REC_PORT + 1]!;
  const s = offset + REC_SCOPE;
  const scopeId = (record[s]! | (record[s + 1]! << 8) | (record[s + 2]! << 16) | (record[s + 3]! << 24)) >>> 0;
  return new EndpointValue(address, port, isV4Mapped(address) ? 0 : scopeId, via);
}

/** Writes `ep` as a 24-byte record at `offset` of `out`. */
export function writeEndpointRecord(ep: Endpoint, out: Uint8Array, offset = 0): void {
  if (ep instanceof EndpointValue) {
    out.set(ep.record, offset);
    return;
  }
  if (offset < 0 || offset + ENDPOINT_RECORD_LEN > out.length) throw new RangeError('endpoint record out of bounds');
  out.set(ep.address.subarray(0, 16), offset);
  out[offset + REC_PORT] = ep.port >>> 8;
  out[offset + REC_PORT + 1] = ep.port & 0xff;
  out[offset + 18] = 0;
  out[offset + 19] = 0;
  const s = offset + REC_SCOPE;
  out[s] = ep.scopeId & 0xff;
  out[s + 1] = (ep.scopeId >>> 8) & 0xff;
  out[s + 2] = (ep.scopeId >>> 16) & 0xff;
  out[s + 3] = (ep.scopeId >>> 24) & 0xff;
}

/** The canonical text of an endpoint (its key). */
export function formatEndpoint(ep: Endpoint): string {
  return ep instanceof EndpointValue ? ep.key : formatKey(ep.address, ep.port, ep.scopeId);
}

function formatKey(address: Uint8Array, port: number, scopeId: number): string {
  if (isV4Mapped(address)) return `${formatAddress(address)}:${port}`;
  const zone = scopeId !== 0 ? `%${scopeId}` : '';
  return `[${formatAddress(address)}${zone}]:${port}`;
}

/** Text of a 16-byte address: dotted quad when v4-mapped, else RFC 5952 IPv6 (shared/net/address.ts). */
export function formatAddress(address: Uint8Array): string {
  if (address.length !== 4 && address.length !== 16)
    throw new EndpointError('address', `an address has 4 or 16 bytes, not ${address.length}`);
  return formatIp(isV4Mapped(address) ? address.subarray(12) : address);
}

/** Addresses a %zone belongs to: link-local unicast (fe80::/10), interface- and link-local multicast. */
function isLinkLocalScoped(a: Uint8Array): boolean {
  if (isLinkLocalV6(a)) return true;
  return a[0] === 0xff && ((a[1]! & 0x0f) === 1 || (a[1]! & 0x0f) === 2);
}

function sysIfindex(name: string): number | undefined {
  try {
    const v = Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
    return Number.isInteger(v) && v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

function resolveZone(zone: string, opts: ParseOptions | undefined): number {
  if (/^[0-9]+$/.test(zone)) {
    const v = Number(zone);
    if (v < 1 || v > 0xffffffff) throw new EndpointError('zone', `bad zone index "${zone}"`);
    return v;
  }
  if (!isInterfaceName(zone)) throw new EndpointError('zone', `bad interface name "${zone}"`);
  const index = (opts?.ifindex ?? sysIfindex)(zone);
  if (!index) throw new EndpointError('zone', `no interface named "${zone}"`);
  return index;
}

/** An IP literal (with an optional %zone for link-local IPv6) as 16 bytes and a scope id. */
export function parseAddress(text: string, opts?: ParseOptions): { address: Uint8Array; scopeId: number } {
  const v4 = text.includes(':') ? null : tryParseIp(text);
  if (v4 !== null) {
    const address = new Uint8Array(16);
    address[10] = 0xff;
    address[11] = 0xff;
    address.set(v4, 12);
    return { address, scopeId: 0 };
  }
  const pct = text.indexOf('%');
  const bare = pct < 0 ? text : text.slice(0, pct);
  const v6 = bare.includes(':') ? tryParseIp(bare) : null;
  if (v6 === null) {
    if (/^[A-Za-z0-9.-]+$/.test(text) && /[A-Za-z]/.test(text))
      throw new EndpointError('hostname', `"${text}" is a hostname, not an address literal (use resolveEndpoint())`);
    throw new EndpointError('address', `"${text}" is not an IPv4 or IPv6 address`);
  }
  if (pct < 0) return { address: v6, scopeId: 0 };
  if (isV4Mapped(v6) || !isLinkLocalScoped(v6))
    throw new EndpointError('zone', `a zone ("%...") is only allowed on a link-local IPv6 address: "${text}"`);
  return { address: v6, scopeId: resolveZone(text.slice(pct + 1), opts) };
}

/** Splits "host:port" / "[host]:port" into host text and port text. */
function splitHostPort(text: string): { host: string; port: string } {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':')
      throw new EndpointError('syntax', `expected "[address]:port", got "${text}"`);
    return { host: text.slice(1, close), port: text.slice(close + 2) };
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw new EndpointError('syntax', `expected "address:port", got "${text}"`);
  const host = text.slice(0, colon);
  if (host.includes(':'))
    throw new EndpointError('syntax', `an IPv6 endpoint needs brackets, like "[2001:db8::1]:51820": "${text}"`);
  return { host, port: text.slice(colon + 1) };
}

function parsePort(text: string, whole: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw new EndpointError('port', `bad port in "${whole}"`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new EndpointError('port', `port out of range in "${whole}"`);
  return port;
}

/**
 * Parses "1.2.3.4:51820", "[2001:db8::1]:51820" or "[fe80::1%eth0]:51820"
 * (zone by interface name or index). Literals only: a hostname throws an
 * EndpointError with code 'hostname'.
 */
export function parseEndpoint(text: string, opts?: ParseOptions): Endpoint {
  const t = text.trim();
  const { host, port } = splitHostPort(t);
  const portNum = parsePort(port, t);
  const { address, scopeId } = parseAddress(host, opts);
  return new EndpointValue(address, portNum, scopeId);
}

export interface ResolveOptions extends ParseOptions {
  /** 4 or 6 to force an address family; default: the resolver's first answer. */
  family?: 0 | 4 | 6;
  /** Name lookup (default node:dns lookup, which follows /etc/hosts and nsswitch). */
  lookup?: (host: string, family: 0 | 4 | 6) => Promise<string>;
}

async function defaultLookup(host: string, family: 0 | 4 | 6): Promise<string> {
  const r = await dnsLookup(host, { family, verbatim: true });
  return r.address;
}

/** Like parseEndpoint, but "hostname:port" is resolved (once, now) to an address. */
export async function resolveEndpoint(text: string, opts?: ResolveOptions): Promise<Endpoint> {
  try {
    return parseEndpoint(text, opts);
  } catch (err) {
    if (!(err instanceof EndpointError) || err.code !== 'hostname') throw err;
  }
  const t = text.trim();
  const { host, port } = splitHostPort(t);
  const portNum = parsePort(port, t);
  let addressText: string;
  try {
    addressText = await (opts?.lookup ?? defaultLookup)(host, opts?.family ?? 0);
  } catch (err) {
    // The resolver's message repeats the name; neither may carry a key pasted into the wrong place.
    if (pathMayHoldKey(host))
      throw new EndpointError('resolve', 'cannot resolve the endpoint name (not shown: it may hold a key)');
    throw new EndpointError('resolve', `cannot resolve "${host}": ${(err as Error).message}`);
  }
  const { address, scopeId } = parseAddress(addressText, opts);
  return new EndpointValue(address, portNum, scopeId);
}
