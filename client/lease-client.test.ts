// The agent's lease state machine fed hand-built gateway packets: which
// QUOTA it takes (from a LEASE for its request, from a STATUS with request
// id 0 to its port) and which it ignores.

import { describe, expect, test } from 'vitest';
import { buildUdp6, LEASE_GATEWAY_ADDRESS, LEASE_PORT, parseUdp6 } from '../shared/lease/carrier.js';
import {
  decodeLeaseMessage,
  encodeLeaseMessage,
  LeaseType,
  type LeaseGrant,
  type LeaseMessage,
  type QuotaInfo,
} from '../shared/lease/message.js';
import { parseIp } from '../shared/net/address.js';
import { CONSUMED, NOT_MINE } from '../shared/wireguard/control.js';
import type { Peer } from '../shared/wireguard/peer.js';
import { seededRandom } from '../test/support/two-peers.js';
import { quotaInfo } from '../test/support/quota-info.js';
import { LeaseClient } from './lease-client.js';

const GRANT: LeaseGrant = {
  ipv4: { address: parseIp('100.64.0.10'), prefixLength: 32 },
  ipv6: null,
  gatewayIpv4: parseIp('100.64.0.1'),
  gatewayIpv6: null,
  dns: [],
  mtu: 1420,
  lifetime: 600,
};
const QUOTA = quotaInfo();
/** The handler ignores the peer: answers are matched by address, port and request id. */
const PEER = null as unknown as Peer;
const NOW = { mono: 5_000, wall: 1_750_000_000_000 };

function agent() {
  const quotas: (QuotaInfo | null)[] = [];
  const client = new LeaseClient(seededRandom('lease-client'), {
    onLease: () => {},
    onRefused: () => {},
    onQuota: (q) => quotas.push(q),
  });
  const request = parseUdp6(client.requestIfDue(NOW.mono)!)!;
  const requestId = decodeLeaseMessage(request.payload)!.requestId;
  /** A packet from the gateway's lease address/port to the agent (or to `port`). */
  const from = (m: LeaseMessage, port = request.sourcePort, sourcePort = LEASE_PORT) =>
    buildUdp6({
      source: LEASE_GATEWAY_ADDRESS,
      destination: request.source,
      sourcePort,
      destinationPort: port,
      payload: encodeLeaseMessage(m),
    });
  return { client, quotas, requestId, from, port: request.sourcePort };
}

describe('the lease client takes QUOTA in-band', () => {
  test('from the LEASE it accepts, and null from a LEASE without QUOTA', () => {
    const a = agent();
    expect(
      a.client.handle(PEER, a.from({ type: LeaseType.Lease, requestId: a.requestId, grant: GRANT, quota: QUOTA }), NOW),
    ).toBe(CONSUMED);
    expect(a.quotas).toEqual([QUOTA]);
    const renewal = decodeLeaseMessage(parseUdp6(a.client.requestIfDue(NOW.mono + 300_000)!)!.payload)!;
    a.client.handle(PEER, a.from({ type: LeaseType.Lease, requestId: renewal.requestId, grant: GRANT }), NOW);
    expect(a.quotas).toEqual([QUOTA, null]);
  });

  test('not from a LEASE for another request, nor from one checkLease refuses', () => {
    const a = agent();
    a.client.handle(
      PEER,
      a.from({ type: LeaseType.Lease, requestId: a.requestId + 1, grant: GRANT, quota: QUOTA }),
      NOW,
    );
    a.client.handle(
      PEER,
      a.from({ type: LeaseType.Lease, requestId: a.requestId, grant: { ...GRANT, mtu: 70 }, quota: QUOTA }),
      NOW,
    );
    expect(a.quotas).toEqual([]);
    expect(a.client.ignored).toBe(1);
    expect(a.client.badLeases).toBe(1);
  });

  test('from a STATUS with request id 0 to its port, with or without a lease', () => {
    const a = agent();
    expect(a.client.handle(PEER, a.from({ type: LeaseType.Status, requestId: 0, quota: QUOTA }), NOW)).toBe(CONSUMED);
    expect(a.quotas).toEqual([QUOTA]);
    expect(a.client.lease).toBeNull();
    expect(a.client.ignored).toBe(0);
  });

  test('a STATUS with another request id, to another port, or not from udp/4790 is not taken', () => {
    const a = agent();
    const status = { type: LeaseType.Status, requestId: 0, quota: QUOTA } as const;
    expect(a.client.handle(PEER, a.from({ ...status, requestId: a.requestId || 1 }), NOW)).toBe(CONSUMED);
    expect(a.client.handle(PEER, a.from(status, a.port ^ 1), NOW)).toBe(CONSUMED);
    expect(a.client.ignored).toBe(2);
    // Not from the gateway's lease port: not a lease packet at all (the data path goes on with it).
    expect(a.client.handle(PEER, a.from(status, a.port, 4791), NOW)).toBe(NOT_MINE);
    expect(a.quotas).toEqual([]);
  });
});
