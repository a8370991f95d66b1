// Interoperability and attack tests of `meshgate up` against wireguard-go and
// against itself, in network namespaces (see harness.ts for the topology helpers).
//
//   1. meshgate ↔ wireguard-go and 2. meshgate ↔ meshgate, each over an IPv4 and an
//      IPv6 underlay, with the handshake initiated from either side (fresh processes
//      per run; the initiator is read from the underlay capture: the source of the
//      first 148-byte type-1 message, and from wireguard-go's verbose log): ping of
//      the inner IPv4 and IPv6 addresses both ways, a content-checked TCP transfer
//      both ways (50 MB each way in one run per underlay, 4 MB in the other), and
//      the peers' counters in `meshgate show --json` / `wg show dump`.
//   3. Attacks on a meshgate peer while its tunnel to a wireguard-go peer keeps
//      working: a wireguard-go peer with a key meshgate does not know, and replays
//      of a captured handshake initiation and transport data packet from an
//      attacker's address and from the real peer's address on another port.

import fs from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import {
  PAIR,
  Scene,
  formatEndpoint,
  genKeyPair,
  netnsSkip,
  ping,
  sendUdp,
  sleep,
  type MeshgatePeer,
  type PeerKind,
  type TunnelPair,
  type TunnelPeer,
  type UdpPacket,
  type WireguardGoPeer,
  type XferResult,
  requireBuiltCli,
  teardownScenesAfterEach,
} from './harness.js';

const skipReason = netnsSkip('interop tests', { commands: ['ip', 'wireguard-go', 'wg', 'tcpdump'], ping: true });

const MB = 1_000_000;
const BIG = 50 * MB;
const SMALL = 4 * MB;
// WireGuard message types and the initiation size (WireGuard whitepaper §5.4.2–5.4.6).
const MSG_INITIATION = 1;
const MSG_TRANSPORT = 4;
const INITIATION_SIZE = 148;
const TRANSPORT_MIN_DATA = 32 + 20; // header 16 + tag 16 + at least an IPv4 header: not a keepalive

/** Drop reasons that must stay zero when two honest peers talk. */
const CLEAN_RUN_DROPS = [
  'unknown-type',
  'bad-length',
  'mac1-invalid',
  'handshake-invalid',
  'unknown-peer',
  'decrypt-failed',
  'invalid-packet',
  'source-not-allowed',
] as const;

const throughput: string[] = [];

requireBuiltCli(skipReason);

teardownScenesAfterEach();

afterAll(() => {
  if (throughput.length > 0)
    console.log(`throughput (content-checked TCP through the tunnel):\n  ${throughput.join('\n  ')}`);
});

function isInitiation(p: UdpPacket): boolean {
  return p.payload[0] === MSG_INITIATION && p.payload.length === INITIATION_SIZE;
}

function expectTransfers(results: XferResult[], bytes: number, label: string): void {
  for (const r of results) {
    expect(r, `${label} ${r.mode}: ${JSON.stringify(r)}`).toMatchObject({ ok: true, bytes, expected: bytes });
    throughput.push(`${label} ${r.mode === 'send' ? 'b→a' : 'a→b'} ${bytes / MB} MB: ${r.mbps.toFixed(0)} Mbit/s`);
  }
}

async function expectCleanDrops(peer: TunnelPeer): Promise<void> {
  if (peer.kind !== 'meshgate') return;
  const drops = (await peer.show()).drops ?? {};
  for (const reason of CLEAN_RUN_DROPS) expect(drops[reason] ?? 0, `${peer.name} drops ${reason}`).toBe(0);
}

/** Peer entry checks after traffic: handshake done, endpoint is the other's underlay address, bytes both ways. */
async function expectPeerState(self: TunnelPeer, other: TunnelPeer, otherUnderlay: string, minBytes: number) {
  const p = await self.peer(other.publicKey);
  expect(p.latestHandshake, `${self.name} latestHandshake`).toBeGreaterThan(Date.now() / 1000 - 120);
  expect(p.endpoint, `${self.name} endpoint`).toBe(formatEndpoint(otherUnderlay, PAIR.port));
  expect(p.rxBytes, `${self.name} rxBytes`).toBeGreaterThan(minBytes);
  expect(p.txBytes, `${self.name} txBytes`).toBeGreaterThan(minBytes);
}

async function pingBothWays(pair: TunnelPair, count = 3): Promise<void> {
  for (const [from, to] of [
    [pair.nsA, pair.inner4.b],
    [pair.nsB, pair.inner4.a],
    [pair.nsA, pair.inner6.b],
    [pair.nsB, pair.inner6.a],
  ] as const) {
    const r = await ping(from, to, { count });
    expect(r.received, `${from.name} → ${to}\n${r.output}`).toBe(count);
  }
}

/**
 * One interop run: fresh peers, the first packet sent by `initiator`, then pings,
 * transfers both ways and counter checks.
 */
async function interopRun(kinds: [PeerKind, PeerKind], underlay: 'v4' | 'v6', initiator: 'a' | 'b', bytes: number) {
  const label = `${kinds[0]}(a)↔${kinds[1]}(b) ${underlay} init=${initiator}`;
  const scene = await Scene.create(`interop-${underlay}-${initiator}`);
  const pair = await scene.tunnelPair({ a: kinds[0], b: kinds[1], underlay, psk: initiator === 'b' });
  const capture = await scene.capture(pair.nsA, pair.veth.a);

  // The first packet: from the initiator to the other's inner IPv4 address.
  const [fromNs, to] = initiator === 'a' ? [pair.nsA, pair.inner4.b] : [pair.nsB, pair.inner4.a];
  const first = await ping(fromNs, to, { count: 3, waitS: 3 });
  expect(first.received, `${label}: first ping\n${first.output}`).toBe(3);
  await pingBothWays(pair);

  const packets = await capture.stop();
  const initiations = packets.filter(isInitiation);
  expect(initiations.length, `${label}: initiations on the wire`).toBeGreaterThan(0);
  const expectedSource = initiator === 'a' ? pair.underlay.a : pair.underlay.b;
  expect(initiations[0]!.src, `${label}: first initiation's source`).toBe(expectedSource);
  expect(
    packets.some((p) => p.payload[0] === MSG_TRANSPORT),
    `${label}: transport data on the wire`,
  ).toBe(true);
  for (const [side, peer] of [
    ['a', pair.a],
    ['b', pair.b],
  ] as const) {
    if (peer.kind !== 'wireguard-go') continue;
    const wg = peer as WireguardGoPeer;
    if (side === initiator) expect(wg.sentInitiation(), `${label}: wireguard-go initiated`).toBe(true);
    else {
      expect(wg.receivedInitiation(), `${label}: wireguard-go received the initiation`).toBe(true);
      expect(wg.sentInitiation(), `${label}: wireguard-go did not initiate`).toBe(false);
    }
  }

  const server = await scene.xferServer(pair.nsA);
  const results = await server.both(pair.nsB, underlay === 'v4' ? pair.inner4.a : pair.inner6.a, bytes, label);
  expectTransfers(results, bytes, label);

  await expectPeerState(pair.a, pair.b, pair.underlay.b, bytes);
  await expectPeerState(pair.b, pair.a, pair.underlay.a, bytes);
  await expectCleanDrops(pair.a);
  await expectCleanDrops(pair.b);
}

const matrix = (kinds: [PeerKind, PeerKind]) => {
  for (const underlay of ['v4', 'v6'] as const) {
    for (const initiator of ['a', 'b'] as const) {
      const bytes = initiator === 'a' ? BIG : SMALL;
      const who = initiator === 'a' ? kinds[0] : kinds[1];
      test(`${underlay} underlay, ${who} (${initiator}) initiates: ping v4/v6, ${bytes / MB} MB each way`, async () => {
        await interopRun(kinds, underlay, initiator, bytes);
      }, 120_000);
    }
  }
};

describe.skipIf(skipReason !== null)('meshgate (a) ↔ wireguard-go (b)', () => {
  matrix(['meshgate', 'wireguard-go']);
});

describe.skipIf(skipReason !== null)('meshgate (a) ↔ meshgate (b)', () => {
  matrix(['meshgate', 'meshgate']);
});

describe.skipIf(skipReason !== null)('attacks on a meshgate peer', () => {
  /** Polls `meshgate show --json` until drops[reason] ≥ atLeast; returns the final count. */
  async function waitForDrops(peer: MeshgatePeer, reason: string, atLeast: number, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    let n = 0;
    while (Date.now() < deadline) {
      n = (await peer.show()).drops?.[reason] ?? 0;
      if (n >= atLeast) return n;
      await sleep(200);
    }
    return n;
  }

  test('unknown key and replayed packets are refused; the tunnel keeps working', async () => {
    const scene = await Scene.create('attack');
    const nsM = await scene.namespace('mg');
    const nsP = await scene.namespace('peer');
    const nsX = await scene.namespace('atk');
    const ul = { mg: '192.0.2.1', peer: '192.0.2.2', atk: '192.0.2.66' };
    const [devM, , devX] = await scene.lan([
      { ns: nsM, addresses: [`${ul.mg}/24`] },
      { ns: nsP, addresses: [`${ul.peer}/24`] },
      { ns: nsX, addresses: [`${ul.atk}/24`] },
    ]);
    const keysM = genKeyPair();
    const keysP = genKeyPair();
    const mg = await scene.meshgate(nsM, {
      privateKey: keysM.privateKey,
      listenPort: PAIR.port,
      addresses: ['10.77.0.1/24'],
      peers: [
        { publicKey: keysP.publicKey, allowedIps: ['10.77.0.2/32'], endpoint: formatEndpoint(ul.peer, PAIR.port) },
      ],
    });
    await scene.wireguardGo(nsP, {
      privateKey: keysP.privateKey,
      listenPort: PAIR.port,
      addresses: ['10.77.0.2/24'],
      peers: [{ publicKey: keysM.publicKey, allowedIps: ['10.77.0.1/32'], endpoint: formatEndpoint(ul.mg, PAIR.port) }],
    });

    // The real peer initiates; capture its initiation and a data packet on meshgate's underlay.
    const capture = await scene.capture(nsM, devM!);
    const first = await ping(nsP, '10.77.0.1', { count: 3 });
    expect(first.received, first.output).toBe(3);
    const packets = await capture.stop();
    const fromPeer = packets.filter((p) => p.src === ul.peer && p.srcPort === PAIR.port);
    const initiation = fromPeer.find(isInitiation);
    const data = fromPeer.find((p) => p.payload[0] === MSG_TRANSPORT && p.payload.length >= TRANSPORT_MIN_DATA);
    expect(initiation, 'captured initiation').toBeDefined();
    expect(data, 'captured transport data').toBeDefined();
    const before = (await mg.show()).drops ?? {};

    // Watch what reaches the attacker from meshgate while it attacks.
    const atkCapture = await scene.capture(nsX, devX!);

    // (a) A wireguard-go peer whose key meshgate does not know.
    const rogue = genKeyPair();
    await scene.wireguardGo(nsX, {
      privateKey: rogue.privateKey,
      listenPort: PAIR.port,
      addresses: ['10.77.0.66/24'],
      peers: [{ publicKey: keysM.publicKey, allowedIps: ['10.77.0.1/32'], endpoint: formatEndpoint(ul.mg, PAIR.port) }],
    });
    const rogueTry = await ping(nsX, '10.77.0.1', { count: 2 });
    expect(rogueTry.received, 'the rogue peer gets no answer').toBe(0);
    const unknownPeer = await waitForDrops(mg, 'unknown-peer', (before['unknown-peer'] ?? 0) + 1);
    expect(unknownPeer, 'drops["unknown-peer"]').toBeGreaterThan(before['unknown-peer'] ?? 0);

    // (b) Replays: from the attacker's address, then from the peer's address on another port.
    await sleep(1_100); // well past any initiation rate limit, so only the replay check can refuse it
    const target = { host: ul.mg, port: PAIR.port };
    await sendUdp(nsX, target, [initiation!.payload, data!.payload]);
    await sendUdp(nsP, target, [initiation!.payload, data!.payload], { bind: ul.peer, sourcePort: 40_000 });
    const wantInit = (before['replayed-initiation'] ?? 0) + 2;
    const wantCounter = (before['replayed-counter'] ?? 0) + 2;
    expect(
      await waitForDrops(mg, 'replayed-initiation', wantInit),
      'drops["replayed-initiation"]',
    ).toBeGreaterThanOrEqual(wantInit);
    expect(await waitForDrops(mg, 'replayed-counter', wantCounter), 'drops["replayed-counter"]').toBeGreaterThanOrEqual(
      wantCounter,
    );

    const dropsNow = (await mg.show()).drops ?? {};
    const watched = ['unknown-peer', 'replayed-initiation', 'replayed-counter', 'initiation-too-soon', 'unknown-index'];
    console.log(
      `attack drops before → after: ${watched.map((r) => `${r} ${before[r] ?? 0}→${dropsNow[r] ?? 0}`).join(', ')}`,
    );

    const atkPackets = await atkCapture.stop();
    const toAttacker = atkPackets.filter((p) => p.src === ul.mg && p.dst === ul.atk);
    expect(toAttacker, 'meshgate sent nothing to the attacker').toEqual([]);

    // The peer's endpoint did not move, only the real peer is known, and the tunnel still works.
    const info = await mg.show();
    expect(info.peers.map((p) => p.publicKey)).toEqual([keysP.publicKey]);
    expect(info.peers[0]!.endpoint).toBe(formatEndpoint(ul.peer, PAIR.port));
    const after1 = await ping(nsM, '10.77.0.2', { count: 3 });
    expect(after1.received, after1.output).toBe(3);
    const after2 = await ping(nsP, '10.77.0.1', { count: 3 });
    expect(after2.received, after2.output).toBe(3);
    expect((await mg.show()).peers[0]!.endpoint).toBe(formatEndpoint(ul.peer, PAIR.port));
    expect(fs.existsSync(scene.dir)).toBe(true);
  }, 120_000);
});
