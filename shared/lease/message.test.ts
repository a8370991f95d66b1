import { expect, test } from 'vitest';
import { seededRandom } from '../../test/support/two-peers.js';
import { quotaInfo } from '../../test/support/quota-info.js';
import {
  decodeLeaseMessage,
  encodeLeaseMessage,
  kbpsOf,
  LEASE_HEADER_SIZE,
  LEASE_MAX_SIZE,
  LeaseError,
  LeaseOption,
  LeaseType,
  QUOTA_SIZE,
  type LeaseMessage,
  type QuotaInfo,
} from './message.js';

const grant = {
  ipv4: { address: Uint8Array.of(100, 64, 0, 2), prefixLength: 32 },
  ipv6: { address: new Uint8Array(16).fill(0xfd), prefixLength: 64 },
  gatewayIpv4: Uint8Array.of(100, 64, 0, 1),
  gatewayIpv6: new Uint8Array(16).fill(1),
  dns: [Uint8Array.of(1, 2, 3, 4), new Uint8Array(16).fill(9)],
  mtu: 1280,
  lifetime: 3600,
};

const quota = quotaInfo({ state: 'throttled', used: 50_000_001, limitDownKbps: 1000, limitUpKbps: 1000 });

/** A STATUS whose QUOTA value starts at `at` in the returned bytes. */
function status(q: QuotaInfo = quota): { bytes: Uint8Array; at: number } {
  return { bytes: encodeLeaseMessage({ type: LeaseType.Status, requestId: 0, quota: q }), at: LEASE_HEADER_SIZE + 2 };
}

test('every message type round-trips', () => {
  const messages: LeaseMessage[] = [
    { type: LeaseType.Request, requestId: 1 },
    { type: LeaseType.Release, requestId: 0xffffffff },
    { type: LeaseType.Lease, requestId: 7, grant },
    { type: LeaseType.Refused, requestId: 8, error: LeaseError.PoolExhausted },
    { type: LeaseType.Lease, requestId: 9, grant, quota },
    { type: LeaseType.Status, requestId: 0, quota },
    {
      type: LeaseType.Status,
      requestId: 0,
      quota: { ...quota, state: 'blocked', used: Number.MAX_SAFE_INTEGER, quota: 2 ** 40, limitUpKbps: 0xffffffff },
    },
    { type: LeaseType.Status, requestId: 0, quota: { ...quota, state: 'ok', count: 'none', used: 0, quota: 0 } },
    { type: LeaseType.Probe, requestId: 11 },
    { type: LeaseType.Health, requestId: 11, uplinkUp: true },
    { type: LeaseType.Health, requestId: 12, uplinkUp: false },
  ];
  for (const m of messages) expect(decodeLeaseMessage(encodeLeaseMessage(m))).toEqual(m);
});

test('unknown options are skipped; known ones with a wrong length are malformed', () => {
  const base = encodeLeaseMessage({ type: LeaseType.Request, requestId: 3 });
  const withUnknown = new Uint8Array(base.length + 4);
  withUnknown.set(base);
  withUnknown.set([200, 2, 1, 2], base.length);
  withUnknown[3] = withUnknown.length;
  expect(decodeLeaseMessage(withUnknown)).toEqual({ type: LeaseType.Request, requestId: 3 });
  const badMtu = Uint8Array.from(withUnknown);
  badMtu[base.length] = 6; // MTU option with 2 bytes is fine...
  expect(decodeLeaseMessage(badMtu)).not.toBeNull();
  badMtu[base.length + 1] = 1; // ...with 1 byte it is not (and the TLV walk no longer fits)
  expect(decodeLeaseMessage(badMtu)).toBeNull();
});

test('a LEASE without addresses or lifetime, and a REFUSED with an unknown code, are malformed', () => {
  const l = encodeLeaseMessage({ type: LeaseType.Lease, requestId: 1, grant: { ...grant, ipv4: null, ipv6: null } });
  expect(decodeLeaseMessage(l)).toBeNull();
  const r = encodeLeaseMessage({ type: LeaseType.Refused, requestId: 1, error: LeaseError.Internal });
  r[r.length - 1] = 42;
  expect(decodeLeaseMessage(r)).toBeNull();
});

test('random bytes never throw and never decode into something oversized', () => {
  const rnd = seededRandom('lease-fuzz');
  for (let i = 0; i < 20000; i++) {
    const d = rnd(i % 700);
    if (d.length > 3 && i % 2 === 0) {
      d[0] = 1;
      d[2] = d.length >> 8;
      d[3] = d.length & 0xff;
    }
    const m = decodeLeaseMessage(d);
    if (m !== null) expect(d.length).toBeLessThanOrEqual(LEASE_MAX_SIZE);
  }
});

test('QUOTA is option 9 with the 30-byte big-endian layout of docs/lease-protocol.md', () => {
  const { bytes, at } = status();
  expect(bytes[1]).toBe(5); // STATUS
  expect(bytes.length).toBe(LEASE_HEADER_SIZE + 2 + QUOTA_SIZE);
  expect([bytes[at - 2], bytes[at - 1]]).toEqual([9, 30]);
  expect(Buffer.from(bytes.subarray(at)).toString('hex')).toBe(
    '01' + // state throttled
      '03' + // count both
      '0000000002faf081' + // used 50 000 001
      '0000000002faf080' + // quota 50 000 000
      '6b36de70' + // period end 1 798 758 000 (2026-12-31T23:00:00Z)
      '000003e8' + // 1000 kbit/s down
      '000003e8', // 1000 kbit/s up
  );
});

test('a QUOTA of another length, an unknown state or count, or a count past 2^53 - 1 is malformed', () => {
  const { bytes, at } = status();
  const corrupt = (edit: (b: Uint8Array) => void) => {
    const b = Uint8Array.from(bytes);
    edit(b);
    return decodeLeaseMessage(b);
  };
  expect(corrupt(() => {})).not.toBeNull();
  expect(corrupt((b) => (b[at] = 3))).toBeNull(); // state
  expect(corrupt((b) => (b[at + 1] = 4))).toBeNull(); // count
  expect(corrupt((b) => (b[at + 3] = 0x20))).toBeNull(); // used 2^53 + 50 000 001
  expect(corrupt((b) => (b[at + 10] = 0x80))).toBeNull(); // quota
  // The same option one byte shorter (and the message length to match), or one byte longer.
  const short = Uint8Array.from(bytes.subarray(0, bytes.length - 1));
  short[at - 1] = QUOTA_SIZE - 1;
  short[3] = short.length;
  expect(decodeLeaseMessage(short)).toBeNull();
  const long = Uint8Array.from([...bytes, 0]);
  long[at - 1] = QUOTA_SIZE + 1;
  long[3] = long.length;
  expect(decodeLeaseMessage(long)).toBeNull();
  // In a LEASE the same rules hold.
  const lease = encodeLeaseMessage({ type: LeaseType.Lease, requestId: 1, grant, quota });
  const q = lease.indexOf(LeaseOption.Quota, lease.length - 2 - QUOTA_SIZE);
  expect(q).toBe(lease.length - 2 - QUOTA_SIZE);
  lease[q + 2] = 0xff;
  expect(decodeLeaseMessage(lease)).toBeNull();
});

test('a STATUS without QUOTA is malformed; a LEASE without one simply has none', () => {
  const bare = Uint8Array.from(status().bytes.subarray(0, LEASE_HEADER_SIZE));
  bare[3] = LEASE_HEADER_SIZE;
  expect(decodeLeaseMessage(bare)).toBeNull();
  expect(decodeLeaseMessage(encodeLeaseMessage({ type: LeaseType.Lease, requestId: 1, grant }))).not.toHaveProperty(
    'quota',
  );
});

test('encoding a QUOTA field that does not fit its wire size throws', () => {
  const enc = (q: Partial<QuotaInfo>) => () =>
    encodeLeaseMessage({ type: LeaseType.Status, requestId: 0, quota: { ...quota, ...q } });
  expect(enc({ used: -1 })).toThrow(RangeError);
  expect(enc({ quota: 1.5 })).toThrow(RangeError);
  expect(enc({ used: 2 ** 53 })).toThrow(RangeError);
  expect(enc({ periodEnd: 2 ** 32 })).toThrow(RangeError);
  expect(enc({ limitDownKbps: NaN })).toThrow(RangeError);
});

test('kbpsOf: bits per second to the kbit/s of QUOTA, 0 for none, at least 1 when limited', () => {
  expect(kbpsOf(null)).toBe(0);
  expect(kbpsOf(8000)).toBe(8);
  expect(kbpsOf(1_000_000)).toBe(1000);
  expect(kbpsOf(400)).toBe(1);
  expect(kbpsOf(100e9)).toBe(100_000_000);
});

test('HEALTH carries option UPLINK (10), one byte 0 or 1; without it, or with another value, it is malformed', () => {
  const h = encodeLeaseMessage({ type: LeaseType.Health, requestId: 0x01020304, uplinkUp: false });
  expect(Buffer.from(h).toString('hex')).toBe('0107000b01020304' + '0a0100');
  const up = Uint8Array.from(h);
  up[10] = 1;
  expect(decodeLeaseMessage(up)).toEqual({ type: LeaseType.Health, requestId: 0x01020304, uplinkUp: true });
  up[10] = 2;
  expect(decodeLeaseMessage(up)).toBeNull();
  const bare = Uint8Array.from(h.subarray(0, LEASE_HEADER_SIZE));
  bare[3] = LEASE_HEADER_SIZE;
  expect(decodeLeaseMessage(bare)).toBeNull();
  // A PROBE is only the header.
  expect(Buffer.from(encodeLeaseMessage({ type: LeaseType.Probe, requestId: 5 })).toString('hex')).toBe(
    '0106000800000005',
  );
});
