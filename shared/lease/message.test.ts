import { expect, test } from 'vitest';
import { seededRandom } from '../../test/support/two-peers.js';
import {
  decodeLeaseMessage,
  encodeLeaseMessage,
  LEASE_MAX_SIZE,
  LeaseError,
  LeaseType,
  type LeaseMessage,
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

test('every message type round-trips', () => {
  const messages: LeaseMessage[] = [
    { type: LeaseType.Request, requestId: 1 },
    { type: LeaseType.Release, requestId: 0xffffffff },
    { type: LeaseType.Lease, requestId: 7, grant },
    { type: LeaseType.Refused, requestId: 8, error: LeaseError.PoolExhausted },
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
