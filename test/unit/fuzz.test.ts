// Property-based fuzzing (fast-check) of every parser that bytes from the
// network reach: the four WireGuard messages through Device.fromNetwork, and
// the lease protocol (message codec and its IPv6/UDP carrier). Inputs are
// arbitrary bytes, and mutations of valid messages (bit flips, overwrites,
// truncation, extension), which fast-check shrinks to a minimal case when a
// property fails. Every input must be refused as one counted drop (or null
// from a lease parser) and never throw.
//
// FUZZ_RUNS sets the total number of inputs (default 10,000, a few seconds);
// scripts/fuzz.sh runs a million. The total that ran is printed at the end.

import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import {
  buildUdp6,
  isFromLeaseServer,
  isToLeaseServer,
  LEASE_GATEWAY_ADDRESS,
  LEASE_PORT,
  parseUdp6,
} from '../../shared/lease/carrier.js';
import {
  decodeLeaseMessage,
  encodeLeaseMessage,
  LeaseError,
  LeaseOption,
  LeaseType,
  type LeaseMessage,
  type QuotaInfo,
} from '../../shared/lease/message.js';
import { Device, type Sink } from '../../shared/wireguard/device.js';
import { MessageType } from '../../shared/wireguard/messages.js';
import type { PeerEndpoint } from '../../shared/wireguard/peer.js';
import { ipv4Packet, TwoPeers, underLoadPair } from '../support/two-peers.js';

const TOTAL = Number(process.env.FUZZ_RUNS ?? 10_000);
/** Each property's share of the total (they sum to 1). */
const share = (fraction: number): number => Math.max(1, Math.round(TOTAL * fraction));
/** Long runs take their time; the default run keeps vitest's limits. */
const TIMEOUT = TOTAL > 20_000 ? 0 : 60_000;
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

let inputs = 0;
function check<Ts extends [unknown, ...unknown[]]>(property: fc.IPropertyWithHooks<Ts>, numRuns: number): void {
  fc.assert(property, { numRuns, ...(SEED === undefined ? {} : { seed: SEED }) });
  inputs += numRuns;
}
afterAll(() => {
  console.log(`fuzz: ${inputs.toLocaleString('en')} inputs ran without an exception (FUZZ_RUNS=${TOTAL})`);
});

// --------------------------------------------------------------- mutations

type Mutation =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; to: number }
  | { kind: 'extend'; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), to: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
);

function mutate(original: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = Uint8Array.from(original);
  for (const m of mutations) {
    if (m.kind === 'truncate') out = out.slice(0, m.to % (out.length + 1));
    else if (m.kind === 'extend') out = Uint8Array.from([...out, ...m.bytes]);
    else if (out.length > 0) {
      const at = m.at % out.length;
      out[at] = m.kind === 'flip' ? out[at]! ^ m.mask : m.value;
    }
  }
  return out;
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));
const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });

// ----------------------------------------------------------------- devices

const totalDrops = (d: Device): number => Object.values(d.drops).reduce((a, b) => a + b, 0);

/**
 * A session between A and B in memory, with one valid message of each kind
 * captured after it was taken: replaying one is refused, so a mutation that
 * leaves a message valid is refused too.
 */
function session() {
  const t = new TwoPeers({ seed: 'fuzz' });
  t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 100));
  t.deliver();
  t.sendFromB(ipv4Packet('10.0.0.2', '10.0.0.1', 60));
  t.deliver();
  const of = (from: 'a' | 'b', type: number) => t.captured.find((w) => w.from === from && w.data[0] === type)!.data;
  return {
    t,
    initiation: of('a', MessageType.Initiation),
    response: of('b', MessageType.Response),
    transportToB: of('a', MessageType.Transport),
    transportToA: of('b', MessageType.Transport),
  };
}

/** A device under load that answered an initiation with a cookie reply, and the initiator that took it. */
function cookieScene() {
  const { a, b, epA, epB } = underLoadPair({ keys: 'fuzz-cookie', a: 'fca', b: 'fcb' });
  const wire: Uint8Array[] = [];
  const sink: Sink = { toNetwork: (d) => void wire.push(Uint8Array.from(d)), toTunnel: () => {} };
  const now = { mono: 0, wall: 1_700_000_000_000 };
  a.fromTunnel(ipv4Packet('10.0.0.1', '10.0.0.2', 10), now, sink);
  b.fromNetwork(wire.shift()!, epA, now, sink);
  const reply = wire.shift()!;
  expect(reply[0]).toBe(MessageType.CookieReply);
  a.fromNetwork(reply, epB, now, sink);
  expect(totalDrops(a)).toBe(0);
  return { a, epB, reply, now, sink };
}

/** Feeds one datagram; it must be refused as exactly one counted drop, with nothing for the tunnel. */
function refusedOnce(device: Device, data: Uint8Array, from: PeerEndpoint, now: { mono: number; wall: number }): void {
  const before = totalDrops(device);
  let toTunnel = 0;
  device.fromNetwork(data, from, now, { toNetwork: () => {}, toTunnel: () => void toTunnel++ });
  expect(totalDrops(device) - before).toBe(1);
  expect(toTunnel).toBe(0);
}

describe('WireGuard messages through Device.fromNetwork', () => {
  const s = session();
  const now = () => s.t.clock.now();
  const cookie = cookieScene();

  test(
    'arbitrary datagrams, and arbitrary bodies behind each message header, are one counted drop each',
    () => {
      const header = fc
        .constantFrom(1, 2, 3, 4)
        .chain((type) => fc.uint8Array({ maxLength: 200 }).map((body) => Uint8Array.from([type, 0, 0, 0, ...body])));
      check(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), header), fc.boolean(), (data, toA) => {
          if (toA) refusedOnce(s.t.a, data, s.t.epB, now());
          else refusedOnce(s.t.b, data, s.t.epA, now());
        }),
        share(0.2),
      );
    },
    TIMEOUT,
  );

  const targets = [
    ['initiation (to the responder)', () => s.initiation, () => s.t.b, s.t.epA],
    ['response (to the initiator)', () => s.response, () => s.t.a, s.t.epB],
    ['transport (to the responder)', () => s.transportToB, () => s.t.b, s.t.epA],
    ['transport (to the initiator)', () => s.transportToA, () => s.t.a, s.t.epB],
  ] as const;
  test.each(targets)(
    'mutations of a valid %s are one counted drop each',
    (_name, message, device, from) => {
      check(
        fc.property(mutations, (ms) => {
          const data = mutate(message(), ms);
          fc.pre(!same(data, message()));
          refusedOnce(device(), data, from, now());
        }),
        share(0.1),
      );
    },
    TIMEOUT,
  );

  test(
    'mutations of a valid cookie reply are one counted drop each',
    () => {
      check(
        fc.property(mutations, (ms) => {
          const data = mutate(cookie.reply, ms);
          fc.pre(!same(data, cookie.reply));
          refusedOnce(cookie.a, data, cookie.epB, cookie.now);
        }),
        share(0.1),
      );
    },
    TIMEOUT,
  );

  test('the session still works after all that', () => {
    s.t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 20));
    s.t.deliver();
    expect(s.t.tunB.at(-1)).toEqual(ipv4Packet('10.0.0.1', '10.0.0.2', 20));
  });
});

// ------------------------------------------------------------------- lease

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const quotaInfo: fc.Arbitrary<QuotaInfo> = fc.record({
  state: fc.constantFrom('ok', 'throttled', 'blocked'),
  count: fc.constantFrom('none', 'download', 'upload', 'both'),
  used: fc.maxSafeNat(),
  quota: fc.maxSafeNat(),
  periodEnd: u32,
  limitDownKbps: u32,
  limitUpKbps: u32,
});
const leaseMessage: fc.Arbitrary<LeaseMessage> = fc.oneof(
  fc.record({ type: fc.constant(LeaseType.Status), requestId: fc.nat(), quota: quotaInfo }),
  fc.record({ type: fc.constant(LeaseType.Request), requestId: fc.nat() }),
  fc.record({ type: fc.constant(LeaseType.Release), requestId: fc.nat() }),
  fc.record({
    type: fc.constant(LeaseType.Refused),
    requestId: fc.nat(),
    error: fc.constantFrom(LeaseError.PoolExhausted, LeaseError.ClientDisabled, LeaseError.Internal),
  }),
  fc.record(
    {
      type: fc.constant(LeaseType.Lease),
      requestId: fc.nat(),
      grant: fc.record({
        ipv4: fc.record({ address: bytes(4), prefixLength: fc.integer({ min: 0, max: 32 }) }),
        ipv6: fc.option(fc.record({ address: bytes(16), prefixLength: fc.integer({ min: 0, max: 128 }) })),
        gatewayIpv4: fc.option(bytes(4)),
        gatewayIpv6: fc.option(bytes(16)),
        dns: fc.array(fc.oneof(bytes(4), bytes(16)), { maxLength: 3 }),
        mtu: fc.option(fc.integer({ min: 0, max: 0xffff })),
        lifetime: fc.nat(),
      }),
      quota: quotaInfo,
    },
    { requiredKeys: ['type', 'requestId', 'grant'] },
  ),
);

/** A well-formed header (version 1, a type, the right length) around arbitrary TLV bytes. */
const framedGarbage = fc
  .tuple(fc.integer({ min: 0, max: 6 }), fc.nat(), fc.uint8Array({ maxLength: 120 }))
  .map(([type, requestId, body]) => {
    const m = new Uint8Array(8 + body.length);
    m.set([1, type, m.length >> 8, m.length & 0xff]);
    new DataView(m.buffer).setUint32(4, requestId >>> 0);
    m.set(body, 8);
    return m;
  });

/** A STATUS header around one QUOTA option of any length and content (most are malformed). */
const framedQuota = fc.uint8Array({ maxLength: 40 }).map((value) => {
  const m = new Uint8Array(10 + value.length);
  m.set([1, LeaseType.Status, m.length >> 8, m.length & 0xff, 0, 0, 0, 0, LeaseOption.Quota, value.length]);
  m.set(value, 10);
  return m;
});

/** decode never throws; what it accepts encodes back to a message that decodes the same. */
function decodesConsistently(data: Uint8Array): void {
  const m = decodeLeaseMessage(data);
  if (m !== null) expect(decodeLeaseMessage(encodeLeaseMessage(m))).toEqual(m);
}

describe('lease messages (shared/lease/message.ts)', () => {
  test(
    'arbitrary bytes and framed garbage: null or a message that round-trips',
    () => {
      check(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), framedGarbage, framedQuota), decodesConsistently),
        share(0.1),
      );
    },
    TIMEOUT,
  );

  test(
    'valid messages round-trip, and their mutations decode consistently',
    () => {
      check(
        fc.property(leaseMessage, mutations, (m, ms) => {
          const encoded = encodeLeaseMessage(m);
          expect(decodeLeaseMessage(encoded)).toEqual(m);
          decodesConsistently(mutate(encoded, ms));
        }),
        share(0.1),
      );
    },
    TIMEOUT,
  );
});

describe('the lease carrier (shared/lease/carrier.ts)', () => {
  const client = Uint8Array.from([0xfe, 0x80, ...new Array<number>(13).fill(0), 2]);
  const datagram = fc.record({
    toServer: fc.boolean(),
    port: fc.integer({ min: 1, max: 0xffff }),
    payload: fc.uint8Array({ maxLength: 200 }),
  });

  test(
    'arbitrary packets and mutated valid ones: parse gives null or a checksummed datagram, never an exception',
    () => {
      check(
        fc.property(fc.uint8Array({ maxLength: 300 }), datagram, mutations, (junk, d, ms) => {
          const valid = buildUdp6({
            source: d.toServer ? client : LEASE_GATEWAY_ADDRESS,
            destination: d.toServer ? LEASE_GATEWAY_ADDRESS : client,
            sourcePort: d.toServer ? d.port : LEASE_PORT,
            destinationPort: d.toServer ? LEASE_PORT : d.port,
            payload: d.payload,
          });
          const parsed = parseUdp6(valid)!;
          expect(Buffer.from(parsed.payload)).toEqual(Buffer.from(d.payload));
          expect(d.toServer ? isToLeaseServer(valid) : isFromLeaseServer(valid)).toBe(true);
          for (const packet of [junk, mutate(valid, ms)]) {
            isToLeaseServer(packet);
            isFromLeaseServer(packet);
            const p = parseUdp6(packet);
            if (p !== null) expect(p.payload.length).toBe(packet.length - 48);
          }
        }),
        share(0.1),
      );
    },
    TIMEOUT,
  );
});
