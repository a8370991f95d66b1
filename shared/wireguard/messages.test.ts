import { expect, test } from 'vitest';
import {
  COOKIE_REPLY_SIZE,
  INITIATION_MAC1,
  INITIATION_MAC2,
  INITIATION_SIZE,
  messageTypeOf,
  readCounter,
  RESPONSE_MAC1,
  RESPONSE_SIZE,
  TRANSPORT_MIN_SIZE,
  writeCounter,
} from './messages.js';

test('message sizes and MAC offsets are those of the whitepaper (section 5.4)', () => {
  expect(INITIATION_SIZE).toBe(148);
  expect(INITIATION_MAC1).toBe(116);
  expect(INITIATION_MAC2).toBe(132);
  expect(RESPONSE_SIZE).toBe(92);
  expect(RESPONSE_MAC1).toBe(60);
  expect(COOKIE_REPLY_SIZE).toBe(64);
  expect(TRANSPORT_MIN_SIZE).toBe(32);
});

test('message types: 1..4 with zero reserved bytes, everything else is 0', () => {
  expect(messageTypeOf(new Uint8Array([1, 0, 0, 0]))).toBe(1);
  expect(messageTypeOf(new Uint8Array([4, 0, 0, 0, 9]))).toBe(4);
  expect(messageTypeOf(new Uint8Array([5, 0, 0, 0]))).toBe(0);
  expect(messageTypeOf(new Uint8Array([0, 0, 0, 0]))).toBe(0);
  expect(messageTypeOf(new Uint8Array([2, 0, 1, 0]))).toBe(0);
  expect(messageTypeOf(new Uint8Array([2, 0, 0]))).toBe(0);
});

test('64-bit little-endian counters round-trip; counters from 2^53 are refused', () => {
  const b = new Uint8Array(8);
  for (const n of [0, 1, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER]) {
    writeCounter(b, 0, n);
    expect(readCounter(b, 0)).toBe(n);
  }
  writeCounter(b, 0, 2 ** 32 + 1);
  expect([...b]).toEqual([1, 0, 0, 0, 1, 0, 0, 0]);
  expect(readCounter(new Uint8Array([0, 0, 0, 0, 0, 0, 0x20, 0]), 0)).toBe(-1);
  expect(readCounter(new Uint8Array(8).fill(0xff), 0)).toBe(-1);
});
