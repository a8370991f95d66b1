import { describe, expect, test } from 'vitest';
import { LeaseClient } from '../client/lease-client.js';
import { ipv4Packet, seededRandom, TwoPeers } from '../test/support/two-peers.js';
import { quotaInfo } from '../test/support/quota-info.js';
import { buildUdp6, LEASE_GATEWAY_ADDRESS, LEASE_PORT, parseUdp6 } from '../shared/lease/carrier.js';
import {
  decodeLeaseMessage,
  LeaseError,
  LeaseType,
  encodeLeaseMessage,
  type LeaseGrant,
  type QuotaInfo,
} from '../shared/lease/message.js';
import { parseCidr } from '../shared/net/address.js';
import { CONSUMED, NOT_MINE, type ControlHandler } from '../shared/wireguard/control.js';
import { LeaseServer, type LeaseAnswer } from './lease-server.js';

const GRANT: LeaseGrant = {
  ipv4: { address: Uint8Array.of(100, 64, 0, 10), prefixLength: 32 },
  ipv6: { address: Uint8Array.from([0xfd, 0x12, ...new Array<number>(13).fill(0), 0x10]), prefixLength: 128 },
  gatewayIpv4: Uint8Array.of(100, 64, 0, 1),
  gatewayIpv6: null,
  dns: [Uint8Array.of(198, 51, 100, 53)],
  mtu: 1420,
  lifetime: 60,
};

const QUOTA = quotaInfo({ state: 'ok', count: 'download', used: 1_000 });

/** A is the client agent (allowed IPs 0/0 for the gateway), B the gateway. */
function scene(answer: LeaseAnswer = { grant: GRANT }, quota: { current: QuotaInfo | null } = { current: null }) {
  const server = new LeaseServer(() => answer, { quotaOf: () => quota.current });
  const leases: LeaseGrant[] = [];
  const refusals: number[] = [];
  const quotas: (QuotaInfo | null)[] = [];
  const client = new LeaseClient(seededRandom('lc'), {
    onLease: (g) => leases.push(g),
    onRefused: (e) => refusals.push(e),
    onQuota: (q) => quotas.push(q),
  });
  const t = new TwoPeers({ a: { control: client.handle }, b: { control: server.handle } });
  const gwPeer = t.peerOfA();
  t.a.setAllowedIps(gwPeer, [parseCidr('0.0.0.0/0'), parseCidr('::/0')]);
  const tick = () => {
    const p = client.requestIfDue(t.clock.now().mono);
    if (p) t.a.sendPacket(gwPeer, p, t.clock.now(), t.sinkA);
    t.deliver();
  };
  return { t, server, client, leases, refusals, quotas, tick, gwPeer, quota };
}

describe('lease protocol over two in-memory devices', () => {
  test('the first request starts the handshake and returns the lease; nothing reaches a TUN', () => {
    const s = scene();
    s.tick();
    expect(s.leases).toHaveLength(1);
    expect([...s.leases[0]!.ipv4!.address]).toEqual([100, 64, 0, 10]);
    expect(s.leases[0]!.dns).toHaveLength(1);
    expect(s.t.tunA).toHaveLength(0);
    expect(s.t.tunB).toHaveLength(0);
    expect(s.server.counters.granted).toBe(1);
  });

  test('renews at half the lifetime, not before', () => {
    const s = scene();
    s.tick();
    s.t.clock.advance(29_000);
    s.tick();
    expect(s.server.counters.requests).toBe(1);
    s.t.clock.advance(1_500);
    s.tick();
    expect(s.server.counters.requests).toBe(2);
    expect(s.leases).toHaveLength(2);
  });

  test('the client says when its next request is due: retries every 2 s, then the renewal at half the lifetime', () => {
    const s = scene();
    expect(s.client.nextRequestAt()).toBe(-Infinity); // at once
    const start = s.t.clock.now().mono;
    s.tick();
    // The lease (60 s) came back within the same call: renewal at 30 s.
    expect(s.client.nextRequestAt()).toBe(start + 30_000);
    s.t.clock.advance(29_999);
    expect(s.client.requestIfDue(s.t.clock.now().mono)).toBeNull();
    s.t.clock.advance(1);
    expect(s.client.requestIfDue(s.t.clock.now().mono)).not.toBeNull();
    // Sent and not yet answered: the next one is a retry 2 s later.
    expect(s.client.nextRequestAt()).toBe(start + 30_000 + 2_000);
  });

  test('a refusal is reported', () => {
    const s = scene({ refused: LeaseError.PoolExhausted });
    s.tick();
    expect(s.refusals).toEqual([LeaseError.PoolExhausted]);
    expect(s.server.counters.refused).toBe(1);
  });

  test('malformed, oversized and wrong-checksum requests are counted and never answered', () => {
    const s = scene();
    s.tick(); // establish the session
    const send = (payload: Uint8Array, corrupt = false) => {
      const p = buildUdp6({
        source: Uint8Array.from([0xfe, 0x80, ...new Array<number>(14).fill(7)]),
        destination: LEASE_GATEWAY_ADDRESS,
        sourcePort: 5000,
        destinationPort: LEASE_PORT,
        payload,
      });
      if (corrupt) p[p.length - 1]! ^= 0xff;
      s.t.a.sendPacket(s.gwPeer, p, s.t.clock.now(), s.t.sinkA);
    };
    const req = encodeLeaseMessage({ type: LeaseType.Request, requestId: 1 });
    send(req, true); // bad UDP checksum
    send(req.subarray(0, 7)); // too short
    const wrongVersion = Uint8Array.from(req);
    wrongVersion[0] = 2;
    send(wrongVersion);
    const wrongLength = Uint8Array.from(req);
    wrongLength[3] = 99;
    send(wrongLength);
    const big = new Uint8Array(600);
    big.set(req);
    big[2] = 600 >> 8;
    big[3] = 600 & 0xff;
    send(big); // oversized
    send(encodeLeaseMessage({ type: LeaseType.Lease, requestId: 1, grant: GRANT })); // a server message sent to the server
    const before = s.t.captured.filter((w) => w.from === 'b').length;
    s.t.deliver();
    expect(s.server.counters.malformed).toBe(6);
    // nothing but keepalive-less silence came back: no transport packet from B carried an answer
    expect(s.t.captured.filter((w) => w.from === 'b').length).toBe(before);
    expect(s.t.b.drops['source-not-allowed']).toBe(0);
  });

  test('requests are rate limited per peer', () => {
    const s = scene();
    s.tick();
    for (let i = 0; i < 50; i++) {
      const p = buildUdp6({
        source: Uint8Array.from([0xfe, 0x80, ...new Array<number>(14).fill(1)]),
        destination: LEASE_GATEWAY_ADDRESS,
        sourcePort: 6000,
        destinationPort: LEASE_PORT,
        payload: encodeLeaseMessage({ type: LeaseType.Request, requestId: i }),
      });
      s.t.a.sendPacket(s.gwPeer, p, s.t.clock.now(), s.t.sinkA);
    }
    s.t.deliver();
    expect(s.server.counters.rateLimited).toBeGreaterThan(30);
  });

  test('ordinary traffic still flows and spoofed sources are still dropped', () => {
    const s = scene();
    s.tick();
    s.t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 20));
    s.t.sendFromA(ipv4Packet('10.9.9.9', '10.0.0.2', 20));
    s.t.deliver();
    expect(s.t.tunB).toHaveLength(1);
    expect(s.t.b.drops['source-not-allowed']).toBe(1);
  });

  test('a LEASE carries QUOTA only when quotaOf has one', () => {
    const s = scene({ grant: GRANT }, { current: null });
    const peerOfB = s.t.peerOfB();
    const answer = () => {
      const r = s.server.handle(peerOfB, requestPacket(40000), s.t.clock.now());
      if (!(r instanceof Uint8Array)) throw new Error('no reply');
      return decodeLeaseMessage(parseUdp6(r)!.payload);
    };
    expect(answer()).not.toHaveProperty('quota');
    s.quota.current = QUOTA;
    expect(answer()).toMatchObject({ type: LeaseType.Lease, requestId: 77, quota: QUOTA });
  });
});

/** A REQUEST as the device hands it to the control handler. */
function requestPacket(port: number, type: LeaseType = LeaseType.Request): Uint8Array {
  return buildUdp6({
    source: Uint8Array.from([0xfe, 0x80, ...new Array<number>(13).fill(0), port & 0xff]),
    destination: LEASE_GATEWAY_ADDRESS,
    sourcePort: port,
    destinationPort: LEASE_PORT,
    payload: encodeLeaseMessage({ type, requestId: 77 } as Parameters<typeof encodeLeaseMessage>[0]),
  });
}

describe('STATUS (statusFor)', () => {
  test('null until the peer sent a REQUEST; then to the source of its latest REQUEST, request id 0, counted', () => {
    const s = scene({ grant: GRANT }, { current: { ...QUOTA, state: 'blocked', used: 50_000_000 } });
    const peer = s.t.peerOfB();
    const now = s.t.clock.now();
    expect(s.server.statusFor(peer)).toBeNull();
    s.server.handle(peer, requestPacket(40001), now);
    s.server.handle(peer, requestPacket(40002), now);
    const packet = s.server.statusFor(peer)!;
    const udp = parseUdp6(packet)!;
    expect(udp.destinationPort).toBe(40002);
    expect(udp.destination[15]).toBe(40002 & 0xff);
    expect(udp.sourcePort).toBe(LEASE_PORT);
    expect([...udp.source]).toEqual([...LEASE_GATEWAY_ADDRESS]);
    expect(decodeLeaseMessage(udp.payload)).toEqual({
      type: LeaseType.Status,
      requestId: 0,
      quota: { ...QUOTA, state: 'blocked', used: 50_000_000 },
    });
    expect(s.server.counters.status).toBe(1);
  });

  test('null after a RELEASE, and when quotaOf has nothing; neither is counted', () => {
    const s = scene({ grant: GRANT }, { current: QUOTA });
    const peer = s.t.peerOfB();
    s.server.handle(peer, requestPacket(40003), s.t.clock.now());
    s.quota.current = null;
    expect(s.server.statusFor(peer)).toBeNull();
    s.quota.current = QUOTA;
    expect(s.server.statusFor(peer)).not.toBeNull();
    s.server.handle(peer, requestPacket(40003, LeaseType.Release), s.t.clock.now());
    expect(s.server.statusFor(peer)).toBeNull();
    expect(s.server.counters.status).toBe(1);
  });

  test('the source is copied out of the packet (the runner reuses its buffers)', () => {
    const s = scene({ grant: GRANT }, { current: QUOTA });
    const peer = s.t.peerOfB();
    const p = requestPacket(40004);
    s.server.handle(peer, p, s.t.clock.now());
    p.fill(0);
    expect(parseUdp6(s.server.statusFor(peer)!)!.destinationPort).toBe(40004);
  });

  test('the agent takes a STATUS that went through both devices', () => {
    const s = scene({ grant: GRANT }, { current: QUOTA });
    s.tick(); // REQUEST → LEASE with QUOTA
    s.quota.current = { ...QUOTA, state: 'throttled', limitDownKbps: 1000, limitUpKbps: 1000 };
    const peer = s.t.peerOfB();
    s.t.b.sendPacket(peer, s.server.statusFor(peer)!, s.t.clock.now(), s.t.sinkB);
    s.t.deliver();
    expect(s.quotas).toEqual([QUOTA, s.quota.current]);
    expect(s.t.tunA).toHaveLength(0);
  });
});

describe('PROBE → HEALTH (failover health probe)', () => {
  function probeScene() {
    const uplink = { up: true };
    const store = { asked: 0 };
    const server = new LeaseServer(
      () => {
        store.asked++;
        return { grant: GRANT };
      },
      { uplinkUp: () => uplink.up },
    );
    const t = new TwoPeers({ b: { control: server.handle } });
    return { server, uplink, store, peer: t.peerOfB(), now: () => t.clock.now() };
  }

  test('answered with the same request id to the probe source; UPLINK follows uplinkUp as it changes', () => {
    const s = probeScene();
    const ask = (port: number, requestId: number) => {
      const r = s.server.handle(s.peer, leasePacket(port, { type: LeaseType.Probe, requestId }), s.now());
      if (!(r instanceof Uint8Array)) throw new Error('no reply');
      const udp = parseUdp6(r)!;
      expect(udp.destinationPort).toBe(port);
      expect(udp.destination[15]).toBe(port & 0xff);
      expect(udp.sourcePort).toBe(LEASE_PORT);
      expect([...udp.source]).toEqual([...LEASE_GATEWAY_ADDRESS]);
      return decodeLeaseMessage(udp.payload);
    };
    expect(ask(41000, 0xdeadbeef)).toEqual({ type: LeaseType.Health, requestId: 0xdeadbeef, uplinkUp: true });
    s.uplink.up = false;
    expect(ask(41001, 2)).toEqual({ type: LeaseType.Health, requestId: 2, uplinkUp: false });
    s.uplink.up = true;
    expect(ask(41002, 3)).toEqual({ type: LeaseType.Health, requestId: 3, uplinkUp: true });
    expect(s.server.counters).toMatchObject({ probes: 3, requests: 0, granted: 0, malformed: 0, rateLimited: 0 });
  });

  test('uplinkUp defaults to up', () => {
    const server = new LeaseServer(() => ({ grant: GRANT }));
    const t = new TwoPeers({ b: { control: server.handle } });
    const r = server.handle(t.peerOfB(), leasePacket(41003, { type: LeaseType.Probe, requestId: 9 }), t.clock.now());
    expect(decodeLeaseMessage(parseUdp6(r as Uint8Array)!.payload)).toMatchObject({ uplinkUp: true });
  });

  test('a probe keeps no state: no lease looked up, no agent address remembered for STATUS', () => {
    const s = probeScene();
    s.server.handle(s.peer, leasePacket(41004, { type: LeaseType.Probe, requestId: 1 }), s.now());
    expect(s.store.asked).toBe(0);
    expect(s.server.statusFor(s.peer)).toBeNull();
  });

  test('the same per-peer rate limit as REQUEST: over it, counted and not answered', () => {
    const s = probeScene();
    let answered = 0;
    for (let i = 0; i < 50; i++) {
      const r = s.server.handle(s.peer, leasePacket(41005, { type: LeaseType.Probe, requestId: i }), s.now());
      if (r instanceof Uint8Array) answered++;
    }
    expect(answered).toBe(s.server.counters.probes);
    expect(answered).toBeLessThan(20);
    expect(s.server.counters.rateLimited).toBe(50 - answered);
    // Probes and requests share the bucket.
    const r = s.server.handle(s.peer, leasePacket(41006, { type: LeaseType.Request, requestId: 1 }), s.now());
    expect(r instanceof Uint8Array).toBe(false);
    expect(s.server.counters.rateLimited).toBe(51 - answered);
  });

  test('gateway messages arriving at the server (HEALTH, LEASE, REFUSED, STATUS) stay malformed', () => {
    const s = probeScene();
    const messages = [
      { type: LeaseType.Health, requestId: 1, uplinkUp: true },
      { type: LeaseType.Lease, requestId: 1, grant: GRANT },
      { type: LeaseType.Refused, requestId: 1, error: LeaseError.Internal },
      { type: LeaseType.Status, requestId: 0, quota: QUOTA },
    ] as const;
    for (const m of messages) {
      const r = s.server.handle(s.peer, leasePacket(41007, m), s.now());
      expect(r instanceof Uint8Array).toBe(false);
    }
    expect(s.server.counters).toMatchObject({ malformed: 4, probes: 0 });
  });

  test('a HEALTH goes back through both devices to the probing peer, whose tunnel sees nothing', () => {
    const server = new LeaseServer(() => ({ grant: GRANT }), { uplinkUp: () => false });
    const seen: unknown[] = [];
    const agent: ControlHandler = (_peer, packet) => {
      const udp = parseUdp6(packet);
      if (udp === null || udp.destinationPort !== 41008) return NOT_MINE;
      seen.push(decodeLeaseMessage(udp.payload));
      return CONSUMED;
    };
    const t = new TwoPeers({ a: { control: agent }, b: { control: server.handle } });
    t.a.setAllowedIps(t.peerOfA(), [parseCidr('0.0.0.0/0'), parseCidr('::/0')]);
    t.a.sendPacket(t.peerOfA(), leasePacket(41008, { type: LeaseType.Probe, requestId: 4242 }), t.clock.now(), t.sinkA);
    t.deliver();
    expect(seen).toEqual([{ type: LeaseType.Health, requestId: 4242, uplinkUp: false }]);
    expect(server.counters.probes).toBe(1);
    expect(t.tunA).toHaveLength(0);
    expect(t.tunB).toHaveLength(0);
  });
});

/** Any lease message as the device hands it to the control handler, from fe80::<port low byte> port `port`. */
function leasePacket(port: number, message: Parameters<typeof encodeLeaseMessage>[0]): Uint8Array {
  return buildUdp6({
    source: Uint8Array.from([0xfe, 0x80, ...new Array<number>(13).fill(0), port & 0xff]),
    destination: LEASE_GATEWAY_ADDRESS,
    sourcePort: port,
    destinationPort: LEASE_PORT,
    payload: encodeLeaseMessage(message),
  });
}
