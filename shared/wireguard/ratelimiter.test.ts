import { describe, expect, test } from 'vitest';
import { endpoint, seededRandom } from '../../test/support/two-peers.js';
import { parseCidr } from '../net/address.js';
import { RATE_LIMIT_BURST } from './constants.js';
import { CookieGenerator } from './cookie.js';
import { publicKeyOf } from './crypto.js';
import { Device } from './device.js';
import { createInitiation } from './handshake.js';
import { MessageType } from './messages.js';
import type { PeerEndpoint } from './peer.js';
import { RateLimiter, rateLimitKey } from './ratelimiter.js';
import { tai64n } from './tai64n.js';

/** A 16-byte IPv6 address from eight 16-bit groups. */
function v6(...groups: number[]): Uint8Array {
  const a = new Uint8Array(16);
  groups.forEach((g, i) => {
    a[2 * i] = g >> 8;
    a[2 * i + 1] = g & 0xff;
  });
  return a;
}

const v4 = (a: number, b: number, c: number, d: number): Uint8Array => endpoint([a, b, c, d], 1).address;

/** Draws the burst from `first`, then asks for one more from `second`. */
function sharesBucket(first: Uint8Array, second: Uint8Array): boolean {
  const limiter = new RateLimiter();
  for (let i = 0; i < RATE_LIMIT_BURST; i++) expect(limiter.allow(rateLimitKey(first), 0)).toBe(true);
  return !limiter.allow(rateLimitKey(second), 0);
}

describe('rate-limit sources: IPv4 per address, IPv6 per /64 (Finding 7)', () => {
  test('two addresses in one IPv6 /64 share a bucket', () => {
    expect(sharesBucket(v6(0x2001, 0xdb8, 1, 2, 0, 0, 0, 1), v6(0x2001, 0xdb8, 1, 2, 0xffff, 9, 8, 7))).toBe(true);
    // a Yggdrasil node's 300::/64 subnet
    expect(sharesBucket(v6(0x300, 1, 2, 3, 0, 0, 0, 1), v6(0x300, 1, 2, 3, 0, 0, 0, 2))).toBe(true);
  });

  test('neighbouring /64s do not', () => {
    expect(sharesBucket(v6(0x2001, 0xdb8, 1, 2, 0, 0, 0, 1), v6(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1))).toBe(false);
    expect(sharesBucket(v6(0x2001, 0xdb8, 1, 2), v6(0x2001, 0xdb8, 1, 0x102))).toBe(false);
  });

  test('IPv4 counts per address, although every v4-mapped address has the same first 8 bytes', () => {
    expect(sharesBucket(v4(192, 0, 2, 1), v4(192, 0, 2, 1))).toBe(true);
    expect(sharesBucket(v4(192, 0, 2, 1), v4(192, 0, 2, 2))).toBe(false);
    expect(sharesBucket(v4(192, 0, 2, 1), v4(198, 51, 100, 1))).toBe(false);
  });

  test('the families stay apart: ::ffff:0:0/96 is IPv4, ::/64 and 64:ff9b::/96 are IPv6', () => {
    expect(sharesBucket(v4(0, 0, 0, 0), v6(0, 0, 0, 0, 0, 0, 0, 1))).toBe(false);
    expect(sharesBucket(v4(192, 0, 2, 1), v6(0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x201))).toBe(false);
    expect(rateLimitKey(v4(192, 0, 2, 1))).toHaveLength(2);
    expect(rateLimitKey(v6(0x2001, 0xdb8))).toHaveLength(4);
  });
});

describe('the device limits handshakes under load per source', () => {
  /**
   * Under load, sends one initiation with a valid MAC2 from each source (each
   * first fetches its cookie) at one instant; returns how many were rate-limited.
   */
  function limitedAmong(sources: PeerEndpoint[]): number {
    const rnd = seededRandom('rl');
    const keyA = rnd(32);
    const keyB = rnd(32);
    const a = new Device({ privateKey: keyA, random: seededRandom('rla') });
    const b = new Device({ privateKey: keyB, random: seededRandom('rlb'), underLoadPerSecond: 0 });
    b.addPeer({ publicKey: publicKeyOf(keyA), allowedIps: [parseCidr('10.0.0.1/32')] });
    const remote = a.addPeer({ publicKey: publicKeyOf(keyB), allowedIps: [parseCidr('10.0.0.2/32')] }).remote;
    const cookies = new CookieGenerator(publicKeyOf(keyB));
    const now = { mono: 0, wall: 1_700_000_000_000 };
    let reply: Uint8Array | null = null;
    const sink = { toNetwork: (d: Uint8Array) => void (reply = Uint8Array.from(d)), toTunnel: () => {} };
    const initiation = (): Uint8Array => {
      const msg = createInitiation(a.identity, remote, 1, tai64n(now.wall), seededRandom('e'))!.message;
      cookies.addMacs(msg, now.mono);
      return msg;
    };
    for (const from of sources) {
      reply = null;
      b.fromNetwork(initiation(), from, now, sink); // no MAC2 yet: a cookie reply
      expect(reply![0]).toBe(MessageType.CookieReply);
      expect(cookies.consumeReply(reply!, now.mono)).toBe(true);
      b.fromNetwork(initiation(), from, now, sink); // with MAC2 for this source
    }
    expect(b.drops['mac2-invalid']).toBe(sources.length);
    return b.drops['rate-limited'];
  }

  /** An IPv6 endpoint with its canonical text key, as shared/io/endpoint.ts makes them. */
  const at = (address: Uint8Array, port: number): PeerEndpoint => {
    const groups = Array.from({ length: 8 }, (_, i) => ((address[2 * i]! << 8) | address[2 * i + 1]!).toString(16));
    return { address, port, key: `[${groups.join(':')}]:${port}` };
  };
  const extra = 3;

  test('sources in one /64 share the burst', () => {
    const sources = Array.from({ length: RATE_LIMIT_BURST + extra }, (_, i) =>
      at(v6(0x2001, 0xdb8, 7, 7, 0, 0, i, 1), 51820),
    );
    expect(limitedAmong(sources)).toBe(extra);
  });

  test('different /64s and different IPv4 addresses each have their own', () => {
    const n = RATE_LIMIT_BURST + extra;
    expect(limitedAmong(Array.from({ length: n }, (_, i) => at(v6(0x2001, 0xdb8, 7, i), 51820)))).toBe(0);
    expect(limitedAmong(Array.from({ length: n }, (_, i) => endpoint([192, 0, 2, i + 1], 51820)))).toBe(0);
  });

  test('one IPv4 address is one source, whatever its ports', () => {
    const sources = Array.from({ length: RATE_LIMIT_BURST + extra }, (_, i) => endpoint([192, 0, 2, 9], 1000 + i));
    expect(limitedAmong(sources)).toBe(extra);
  });
});
