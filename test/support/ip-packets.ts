// IPv4/IPv6 test packets with TCP, UDP or ICMP headers for the shaper's unit
// tests (gateway/traffic): the fields the shaper reads are right (version,
// total/payload length, protocol, addresses, ports, fragment bits, flow
// label); checksums are not computed. A 4-byte tag after the transport
// header lets a test recognise each packet when it comes out.

import { parseIp } from '../../shared/net/address.js';

export const IPV4_HEADER = 20;
export const IPV6_HEADER = 40;
export const TCP_HEADER = 20;
export const UDP_HEADER = 8;
export const ICMP_HEADER = 8;
/** IP protocol numbers (IANA). */
export const PROTO = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, ipv6Fragment: 44 } as const;

export interface PacketSpec {
  src: string;
  dst: string;
  proto?: 'tcp' | 'udp' | 'icmp';
  sport?: number;
  dport?: number;
  /** Total length of the IP packet in bytes (default: the headers plus the 4-byte tag). */
  size?: number;
  /** IPv4: More Fragments flag and fragment offset (in 8-byte units). */
  moreFragments?: boolean;
  fragmentOffset?: number;
  /** IPv6 flow label (20 bits). */
  flowLabel?: number;
  /** Written after the transport header (read back with tagOf). */
  tag?: number;
}

const TAG = 4;

/** Transport header length of a spec's protocol. */
export function l4Header(proto: PacketSpec['proto'] = 'udp'): number {
  return proto === 'tcp' ? TCP_HEADER : proto === 'udp' ? UDP_HEADER : ICMP_HEADER;
}

/** Bytes of IP and transport headers plus the tag: the smallest `size` a spec may have. */
export function minSize(spec: Pick<PacketSpec, 'src' | 'proto'>): number {
  return (spec.src.includes(':') ? IPV6_HEADER : IPV4_HEADER) + l4Header(spec.proto) + TAG;
}

export function packet(spec: PacketSpec): Uint8Array {
  const src = parseIp(spec.src);
  const dst = parseIp(spec.dst);
  const proto = spec.proto ?? 'udp';
  const v6 = src.length === 16;
  const ip = v6 ? IPV6_HEADER : IPV4_HEADER;
  const size = spec.size ?? minSize(spec);
  if (size < minSize(spec) || size > 0xffff) throw new RangeError(`packet size ${size}`);
  const p = new Uint8Array(size);
  const view = new DataView(p.buffer);
  const number = proto === 'tcp' ? PROTO.tcp : proto === 'udp' ? PROTO.udp : v6 ? PROTO.icmpv6 : PROTO.icmp;
  if (v6) {
    view.setUint32(0, (6 << 28) | ((spec.flowLabel ?? 0) & 0xfffff));
    view.setUint16(4, size - IPV6_HEADER);
    p[6] = number;
    p[7] = 64;
    p.set(src, 8);
    p.set(dst, 24);
  } else {
    p[0] = 0x45;
    view.setUint16(2, size);
    view.setUint16(6, ((spec.moreFragments ? 1 : 0) << 13) | (spec.fragmentOffset ?? 0));
    p[8] = 64;
    p[9] = number;
    p.set(src, 12);
    p.set(dst, 16);
  }
  if (proto === 'icmp') {
    p[ip] = v6 ? 128 : 8; // echo request
  } else {
    view.setUint16(ip, spec.sport ?? 40000);
    view.setUint16(ip + 2, spec.dport ?? 443);
    if (proto === 'udp') view.setUint16(ip + 4, size - ip);
    else p[ip + 12] = 5 << 4; // TCP data offset: 5 words
  }
  view.setUint32(ip + l4Header(proto), spec.tag ?? 0);
  return p;
}

/** The tag `packet()` wrote (the packet must be one of its own). */
export function tagOf(p: Uint8Array): number {
  const v6 = p[0]! >> 4 === 6;
  const ip = v6 ? IPV6_HEADER : (p[0]! & 0x0f) * 4;
  const proto = v6 ? p[6]! : p[9]!;
  const l4 = proto === PROTO.tcp ? TCP_HEADER : proto === PROTO.udp ? UDP_HEADER : ICMP_HEADER;
  return new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(ip + l4);
}

/** A packet's total length field (IPv4) or 40 + payload length (IPv6). */
export function totalLength(p: Uint8Array): number {
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return p[0]! >> 4 === 6 ? IPV6_HEADER + view.getUint16(4) : view.getUint16(2);
}
