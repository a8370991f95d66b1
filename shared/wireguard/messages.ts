// WireGuard's four message formats (whitepaper section 5.4), defined once.
//
// All integers are little-endian. Each message starts with a one-byte type and
// three reserved zero bytes. Handshake and cookie messages have one exact size;
// transport messages are a 16-byte header followed by the sealed packet.

import { KEY_LEN, MAC_LEN, TAG_LEN, XAEAD_NONCE_LEN } from './crypto.js';

export const MessageType = {
  Initiation: 1,
  Response: 2,
  CookieReply: 3,
  Transport: 4,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const TIMESTAMP_LEN = 12;

// Handshake initiation: type, reserved, sender, ephemeral, static (sealed), timestamp (sealed), mac1, mac2.
export const INITIATION_SENDER = 4;
export const INITIATION_EPHEMERAL = 8;
export const INITIATION_STATIC = INITIATION_EPHEMERAL + KEY_LEN; // 40
export const INITIATION_TIMESTAMP = INITIATION_STATIC + KEY_LEN + TAG_LEN; // 88
export const INITIATION_MAC1 = INITIATION_TIMESTAMP + TIMESTAMP_LEN + TAG_LEN; // 116
export const INITIATION_MAC2 = INITIATION_MAC1 + MAC_LEN; // 132
export const INITIATION_SIZE = INITIATION_MAC2 + MAC_LEN; // 148

// Handshake response: type, reserved, sender, receiver, ephemeral, empty (sealed), mac1, mac2.
export const RESPONSE_SENDER = 4;
export const RESPONSE_RECEIVER = 8;
export const RESPONSE_EPHEMERAL = 12;
export const RESPONSE_EMPTY = RESPONSE_EPHEMERAL + KEY_LEN; // 44
export const RESPONSE_MAC1 = RESPONSE_EMPTY + TAG_LEN; // 60
export const RESPONSE_MAC2 = RESPONSE_MAC1 + MAC_LEN; // 76
export const RESPONSE_SIZE = RESPONSE_MAC2 + MAC_LEN; // 92

// Cookie reply: type, reserved, receiver, nonce, cookie (sealed).
export const COOKIE_RECEIVER = 4;
export const COOKIE_NONCE = 8;
export const COOKIE_SEALED = COOKIE_NONCE + XAEAD_NONCE_LEN; // 32
export const COOKIE_LEN = 16;
export const COOKIE_REPLY_SIZE = COOKIE_SEALED + COOKIE_LEN + TAG_LEN; // 64

// Transport data: type, reserved, receiver, counter, sealed packet.
export const TRANSPORT_RECEIVER = 4;
export const TRANSPORT_COUNTER = 8;
export const TRANSPORT_HEADER_SIZE = 16;
export const TRANSPORT_MIN_SIZE = TRANSPORT_HEADER_SIZE + TAG_LEN; // 32: a keepalive

/** Bytes a transport message adds around an IP packet (before padding). */
export const TRANSPORT_OVERHEAD = TRANSPORT_HEADER_SIZE + TAG_LEN;

/**
 * The message type of a datagram, or 0 when it is too short to carry any
 * message, the type is unknown, or the reserved bytes are not zero.
 */
export function messageTypeOf(data: Uint8Array): MessageType | 0 {
  if (data.length < 4) return 0;
  const type = data[0]!;
  if (type < MessageType.Initiation || type > MessageType.Transport) return 0;
  if ((data[1]! | data[2]! | data[3]!) !== 0) return 0;
  return type as MessageType;
}

/** The exact size a handshake or cookie message must have; transport messages have a minimum instead. */
export const EXACT_SIZE: Readonly<Record<1 | 2 | 3, number>> = {
  [MessageType.Initiation]: INITIATION_SIZE,
  [MessageType.Response]: RESPONSE_SIZE,
  [MessageType.CookieReply]: COOKIE_REPLY_SIZE,
};

export function readU32(data: Uint8Array, offset: number): number {
  return (data[offset]! | (data[offset + 1]! << 8) | (data[offset + 2]! << 16) | (data[offset + 3]! << 24)) >>> 0;
}

export function writeU32(data: Uint8Array, offset: number, value: number): void {
  data[offset] = value & 0xff;
  data[offset + 1] = (value >>> 8) & 0xff;
  data[offset + 2] = (value >>> 16) & 0xff;
  data[offset + 3] = (value >>> 24) & 0xff;
}

/**
 * A 64-bit little-endian counter as a number, or -1 when it is at or above
 * 2^53 (not exactly representable; such counters are never legitimately
 * reached, and are refused like counters past Reject-After-Messages).
 */
export function readCounter(data: Uint8Array, offset: number): number {
  const lo = readU32(data, offset);
  const hi = readU32(data, offset + 4);
  if (hi >= 0x20_0000) return -1;
  return hi * 0x1_0000_0000 + lo;
}

export function writeCounter(data: Uint8Array, offset: number, counter: number): void {
  writeU32(data, offset, counter >>> 0);
  writeU32(data, offset + 4, Math.floor(counter / 0x1_0000_0000) >>> 0);
}

/** Writes the 4-byte message header (type and three zero bytes). */
export function writeHeader(data: Uint8Array, type: MessageType): void {
  data[0] = type;
  data[1] = 0;
  data[2] = 0;
  data[3] = 0;
}
