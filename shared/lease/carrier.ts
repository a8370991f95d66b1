// How lease messages travel: UDP inside IPv6 between link-local addresses,
// inside the tunnel (docs/lease-protocol.md, "Carrier"). These packets are
// built and consumed by meshgate itself and never reach a kernel.
//
//   [IPv6 header 40 | UDP header 8 | lease message]
//   client fe80::<x>:<port>  ⇄  gateway fe80::1:4790

import { IPV6_DST_OFFSET, IPV6_HEADER_LEN, IPV6_SRC_OFFSET } from '../wireguard/allowed-ips.js';
import { decodeLeaseMessage, encodeLeaseMessage, type LeaseMessage } from './message.js';

export const LEASE_PORT = 4790;
/** fe80::1, the gateway's end of the lease protocol. */
export const LEASE_GATEWAY_ADDRESS = Uint8Array.from([0xfe, 0x80, ...new Array<number>(13).fill(0), 1]);

const UDP_HEADER_LEN = 8;
const NEXT_HEADER_UDP = 17;
const HOP_LIMIT = 64;

export interface Udp6Datagram {
  source: Uint8Array;
  destination: Uint8Array;
  sourcePort: number;
  destinationPort: number;
  payload: Uint8Array;
}

/** The Internet checksum over the IPv6 pseudo-header and the UDP datagram (RFC 8200 section 8.1, RFC 768). */
function udp6Checksum(src: Uint8Array, dst: Uint8Array, udp: Uint8Array): number {
  let sum = 0;
  const add16 = (b: Uint8Array, len: number) => {
    for (let i = 0; i + 1 < len; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
    if (len & 1) sum += b[len - 1]! << 8;
  };
  add16(src, 16);
  add16(dst, 16);
  sum += udp.length; // upper-layer length (fits in 16 bits here)
  sum += NEXT_HEADER_UDP;
  add16(udp, udp.length);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  return c === 0 ? 0xffff : c;
}

export function buildUdp6(d: Udp6Datagram): Uint8Array {
  const udpLen = UDP_HEADER_LEN + d.payload.length;
  const p = new Uint8Array(IPV6_HEADER_LEN + udpLen);
  p[0] = 0x60;
  p[4] = udpLen >> 8;
  p[5] = udpLen & 0xff;
  p[6] = NEXT_HEADER_UDP;
  p[7] = HOP_LIMIT;
  p.set(d.source, IPV6_SRC_OFFSET);
  p.set(d.destination, IPV6_DST_OFFSET);
  const udp = p.subarray(IPV6_HEADER_LEN);
  udp[0] = d.sourcePort >> 8;
  udp[1] = d.sourcePort & 0xff;
  udp[2] = d.destinationPort >> 8;
  udp[3] = d.destinationPort & 0xff;
  udp[4] = udpLen >> 8;
  udp[5] = udpLen & 0xff;
  udp.set(d.payload, UDP_HEADER_LEN);
  const sum = udp6Checksum(d.source, d.destination, udp);
  udp[6] = sum >> 8;
  udp[7] = sum & 0xff;
  return p;
}

/**
 * Parses an IPv6/UDP packet (no extension headers) with a valid checksum;
 * null for anything else. The payload is a view into `packet`.
 */
export function parseUdp6(packet: Uint8Array): Udp6Datagram | null {
  if (packet.length < IPV6_HEADER_LEN + UDP_HEADER_LEN || packet[0]! >> 4 !== 6 || packet[6] !== NEXT_HEADER_UDP)
    return null;
  const payloadLen = (packet[4]! << 8) | packet[5]!;
  if (IPV6_HEADER_LEN + payloadLen !== packet.length) return null;
  const udp = packet.subarray(IPV6_HEADER_LEN);
  const udpLen = (udp[4]! << 8) | udp[5]!;
  if (udpLen !== udp.length) return null;
  const source = packet.subarray(IPV6_SRC_OFFSET, IPV6_SRC_OFFSET + 16);
  const destination = packet.subarray(IPV6_DST_OFFSET, IPV6_DST_OFFSET + 16);
  const stored = (udp[6]! << 8) | udp[7]!;
  if (stored === 0) return null; // a UDP checksum is mandatory over IPv6
  const copy = Uint8Array.from(udp);
  copy[6] = copy[7] = 0;
  if (udp6Checksum(source, destination, copy) !== stored) return null;
  return {
    source,
    destination,
    sourcePort: (udp[0]! << 8) | udp[1]!,
    destinationPort: (udp[2]! << 8) | udp[3]!,
    payload: udp.subarray(UDP_HEADER_LEN),
  };
}

/** One end of the lease protocol: a link-local address and a UDP port. */
export interface LeaseEnd {
  address: Uint8Array;
  port: number;
}

/** The gateway's end, fe80::1 port 4790. */
export const LEASE_SERVER_END: Readonly<LeaseEnd> = Object.freeze({ address: LEASE_GATEWAY_ADDRESS, port: LEASE_PORT });

/** A lease message in its datagram from one end to the other. */
export function buildLeasePacket(from: LeaseEnd, to: LeaseEnd, message: LeaseMessage): Uint8Array {
  return buildUdp6({
    source: from.address,
    destination: to.address,
    sourcePort: from.port,
    destinationPort: to.port,
    payload: encodeLeaseMessage(message),
  });
}

/** The datagram and the lease message it carries; null when either is malformed. */
export function parseLeasePacket(packet: Uint8Array): { udp: Udp6Datagram; message: LeaseMessage } | null {
  const udp = parseUdp6(packet);
  const message = udp === null ? null : decodeLeaseMessage(udp.payload);
  return udp === null || message === null ? null : { udp, message };
}

function isGatewayAddress(b: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 16; i++) if (b[offset + i] !== LEASE_GATEWAY_ADDRESS[i]) return false;
  return true;
}

/** Cheap test on the packet path: is this IPv6/UDP to fe80::1 port 4790 (a lease request)? */
export function isToLeaseServer(packet: Uint8Array): boolean {
  return (
    packet.length >= IPV6_HEADER_LEN + UDP_HEADER_LEN &&
    packet[0]! >> 4 === 6 &&
    packet[6] === NEXT_HEADER_UDP &&
    packet[IPV6_HEADER_LEN + 2] === LEASE_PORT >> 8 &&
    packet[IPV6_HEADER_LEN + 3] === (LEASE_PORT & 0xff) &&
    isGatewayAddress(packet, IPV6_DST_OFFSET)
  );
}

/** Is this IPv6/UDP from fe80::1 port 4790 (a lease reply)? */
export function isFromLeaseServer(packet: Uint8Array): boolean {
  return (
    packet.length >= IPV6_HEADER_LEN + UDP_HEADER_LEN &&
    packet[0]! >> 4 === 6 &&
    packet[6] === NEXT_HEADER_UDP &&
    packet[IPV6_HEADER_LEN] === LEASE_PORT >> 8 &&
    packet[IPV6_HEADER_LEN + 1] === (LEASE_PORT & 0xff) &&
    isGatewayAddress(packet, IPV6_SRC_OFFSET)
  );
}
