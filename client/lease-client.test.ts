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

describe('the lease client probes its gateway (failover)', () => {
  function prober() {
    const health: { uplinkUp: boolean; rttMs: number; now: number }[] = [];
    const client = new LeaseClient(seededRandom('lease-client-probe'), {
      onLease: () => {},
      onRefused: () => {},
      onHealth: (uplinkUp, rttMs, now) => health.push({ uplinkUp, rttMs, now }),
    });
    const request = parseUdp6(client.requestIfDue(NOW.mono)!)!;
    /** A PROBE sent at `mono`: its request id. */
    const probe = (mono: number) => {
      const udp = parseUdp6(client.probe(mono))!;
      const m = decodeLeaseMessage(udp.payload)!;
      expect(m.type).toBe(LeaseType.Probe);
      return { udp, id: m.requestId };
    };
    /** A gateway packet with this lease payload to `port` (default the client's), handled at `mono`. */
    const deliver = (payload: Uint8Array, mono = NOW.mono, port = request.sourcePort) =>
      client.handle(
        PEER,
        buildUdp6({
          source: LEASE_GATEWAY_ADDRESS,
          destination: request.source,
          sourcePort: LEASE_PORT,
          destinationPort: port,
          payload,
        }),
        { ...NOW, mono },
      );
    /** The gateway's HEALTH for request id `id`, handled at `mono`. */
    const answer = (id: number, mono: number, uplinkUp = true) =>
      deliver(encodeLeaseMessage({ type: LeaseType.Health, requestId: id, uplinkUp }), mono);
    return { client, health, request, probe, answer, deliver };
  }

  test('a PROBE to fe80::1 port 4790 from the lease address and port, with a fresh id each time', () => {
    const p = prober();
    const first = p.probe(NOW.mono);
    const second = p.probe(NOW.mono + 1000);
    for (const { udp } of [first, second]) {
      expect(udp.destination).toEqual(LEASE_GATEWAY_ADDRESS);
      expect(udp.destinationPort).toBe(LEASE_PORT);
      expect(udp.source).toEqual(p.request.source);
      expect(udp.sourcePort).toBe(p.request.sourcePort);
    }
    const requestId = decodeLeaseMessage(p.request.payload)!.requestId;
    expect(new Set([requestId, first.id, second.id]).size).toBe(3);
    expect(p.health).toEqual([]);
  });

  test('its HEALTH gives onHealth the uplink state and the round trip; an unknown id is ignored', () => {
    const p = prober();
    const { id } = p.probe(NOW.mono);
    expect(p.answer(id ^ 1, NOW.mono + 5)).toBe(CONSUMED);
    expect(p.client.ignored).toBe(1);
    expect(p.health).toEqual([]);
    expect(p.answer(id, NOW.mono + 42, false)).toBe(CONSUMED);
    expect(p.health).toEqual([{ uplinkUp: false, rttMs: 42, now: NOW.mono + 42 }]);
    // Answered once: the same HEALTH again is not taken twice.
    p.answer(id, NOW.mono + 50);
    expect(p.client.ignored).toBe(2);
    expect(p.health).toHaveLength(1);
  });

  test('a HEALTH for a newer PROBE drops the older ones: a late answer to an older one is ignored', () => {
    const p = prober();
    const a = p.probe(NOW.mono);
    const b = p.probe(NOW.mono + 1000);
    const c = p.probe(NOW.mono + 2000);
    p.answer(b.id, NOW.mono + 1030);
    expect(p.health).toEqual([{ uplinkUp: true, rttMs: 30, now: NOW.mono + 1030 }]);
    p.answer(a.id, NOW.mono + 1100); // late: a was given up with b's answer
    expect(p.client.ignored).toBe(1);
    p.answer(c.id, NOW.mono + 2010); // the newer one is still awaited
    expect(p.health.map((h) => h.rttMs)).toEqual([30, 10]);
    expect(p.client.ignored).toBe(1);
  });

  test('a PROBE given up as lost (more than 8 newer ones) is not answered any more', () => {
    const p = prober();
    const ids = Array.from({ length: 9 }, (_, i) => p.probe(NOW.mono + i * 1000).id);
    p.answer(ids[0]!, NOW.mono + 9_000);
    expect(p.client.ignored).toBe(1);
    p.answer(ids[1]!, NOW.mono + 9_000);
    expect(p.health).toEqual([{ uplinkUp: true, rttMs: 8_000, now: NOW.mono + 9_000 }]);
  });

  test('a HEALTH to another port, or without UPLINK, is ignored', () => {
    const p = prober();
    const { id } = p.probe(NOW.mono);
    const other = p.request.sourcePort ^ 1;
    const good = encodeLeaseMessage({ type: LeaseType.Health, requestId: id, uplinkUp: true });
    expect(p.deliver(good, NOW.mono, other)).toBe(CONSUMED);
    // A PROBE's encoding with the HEALTH type: no UPLINK option, malformed.
    const bare = encodeLeaseMessage({ type: LeaseType.Probe, requestId: id });
    bare[1] = LeaseType.Health;
    expect(p.deliver(bare)).toBe(CONSUMED);
    expect(p.client.ignored).toBe(2);
    expect(p.health).toEqual([]);
  });
});
