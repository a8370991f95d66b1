import { describe, expect, test } from 'vitest';
import { endpoint, ipv4Packet, seededRandom, TwoPeers, underLoadPair } from '../../test/support/two-peers.js';
import { parseCidr } from '../net/address.js';
import {
  KEEPALIVE_TIMEOUT,
  REJECT_AFTER_TIME,
  REKEY_AFTER_TIME,
  REKEY_ATTEMPT_TIME,
  REKEY_TIMEOUT,
} from './constants.js';
import { nodeCrypto, nodeX25519, publicKeyOf, type X25519Backend } from './crypto.js';
import { Device, ipPacketLength } from './device.js';
import { REKEY_SEND_COUNTER } from './keypair.js';
import { DropReasons } from './errors.js';
import { MessageType, TRANSPORT_HEADER_SIZE } from './messages.js';

const typeOf = (d: Uint8Array) => d[0];

function established(options?: ConstructorParameters<typeof TwoPeers>[0]): TwoPeers {
  const t = new TwoPeers(options);
  t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 100));
  t.deliver();
  return t;
}

function totalDrops(d: Device): number {
  return Object.values(d.drops).reduce((a, b) => a + b, 0);
}

describe('two devices in memory', () => {
  test('first packet triggers a handshake and arrives intact; the reply goes back', () => {
    const t = new TwoPeers();
    const packet = ipv4Packet('10.0.0.1', '10.0.0.2', 1200);
    t.sendFromA(packet);
    expect(t.wire.map((w) => typeOf(w.data))).toEqual([MessageType.Initiation]);
    t.deliver();
    expect(t.captured.map((w) => typeOf(w.data))).toEqual([
      MessageType.Initiation,
      MessageType.Response,
      MessageType.Transport,
    ]);
    expect(t.tunB).toEqual([packet]);
    const reply = ipv4Packet('10.0.0.2', '10.0.0.1', 64);
    t.sendFromB(reply);
    t.deliver();
    expect(t.tunA).toEqual([reply]);
    expect(totalDrops(t.a) + totalDrops(t.b)).toBe(0);
  });

  test('both sides derive the same transport keys', () => {
    const t = established();
    const a = t.peerOfA().current!;
    const b = t.peerOfB().current!;
    expect(a.isInitiator).toBe(true);
    expect(b.isInitiator).toBe(false);
    expect(Buffer.from(a.sendKey)).toEqual(Buffer.from(b.receiveKey));
    expect(Buffer.from(a.receiveKey)).toEqual(Buffer.from(b.sendKey));
    expect(a.remoteIndex).toBe(b.localIndex);
    expect(b.remoteIndex).toBe(a.localIndex);
  });

  test('the responder learns the initiator endpoint and can answer first after the handshake', () => {
    const t = established();
    expect(t.peerOfB().endpoint?.key).toBe(t.epA.key);
    expect(t.peerOfB().current).not.toBeNull(); // confirmed by A's first data packet
  });

  test('with the same preshared key it works, with different ones it fails', () => {
    const psk = seededRandom('psk')(32);
    const ok = established({ psk });
    expect(ok.tunB).toHaveLength(1);

    const t = new TwoPeers({ psk });
    // B gets another PSK for A
    const peerB = t.peerOfB();
    t.b.removePeer(peerB.publicKey);
    t.b.addPeer({
      publicKey: peerB.publicKey,
      presharedKey: seededRandom('other')(32),
      allowedIps: [parseCidr('10.0.0.1/32')],
    });
    t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 10));
    t.deliver();
    expect(t.a.drops['handshake-invalid']).toBe(1);
    expect(t.tunB).toHaveLength(0);
  });

  test('transport messages are padded to 16 bytes', () => {
    const t = established();
    t.captured.length = 0;
    t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 1)); // 21 bytes → 32
    const d = t.captured[0]!.data;
    expect(d.length).toBe(TRANSPORT_HEADER_SIZE + 32 + 16);
    t.deliver();
    expect(t.tunB.at(-1)!.length).toBe(21);
  });

  test('many packets in both directions, reordered within the window, all arrive once', () => {
    const t = established();
    const before = t.tunB.length;
    for (let i = 0; i < 500; i++) t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 40 + (i % 100)));
    t.wire.reverse();
    t.deliver();
    expect(t.tunB.length - before).toBe(500);
  });
});

describe('refused input is counted, never thrown', () => {
  test('every malformed or hostile datagram lands in a drop reason', () => {
    const t = established();
    const a = t.a;
    const inject = (d: Uint8Array) => t.inject('a', d);
    inject(new Uint8Array(0));
    inject(new Uint8Array([4, 0, 0]));
    expect(a.drops['too-short']).toBe(2);
    inject(new Uint8Array([9, 0, 0, 0, 1, 2, 3]));
    inject(new Uint8Array([4, 1, 0, 0, 1, 2, 3]));
    expect(a.drops['unknown-type']).toBe(2);
    inject(new Uint8Array(147).fill(0).map((_, i) => (i === 0 ? 1 : 0)));
    expect(a.drops['bad-length']).toBe(1);
    const badMac = new Uint8Array(148);
    badMac[0] = 1;
    inject(badMac);
    expect(a.drops['mac1-invalid']).toBe(1);
    const transport = new Uint8Array(48);
    transport[0] = 4;
    inject(transport);
    expect(a.drops['unknown-index']).toBe(1);
    // a real transport packet with one bit flipped
    t.sendFromB(ipv4Packet('10.0.0.2', '10.0.0.1', 30));
    const good = t.wire.pop()!.data;
    const flipped = Uint8Array.from(good);
    flipped[flipped.length - 1]! ^= 1;
    inject(flipped);
    expect(a.drops['decrypt-failed']).toBe(1);
    inject(good);
    inject(good);
    expect(a.drops['replayed-counter']).toBe(1);
    expect(t.tunA).toHaveLength(1);
    // random garbage of every length never throws
    const rnd = seededRandom('garbage');
    for (let i = 0; i < 2000; i++) {
      const d = rnd(i % 200);
      if (d.length > 0) d[0] = 1 + (i % 4);
      if (d.length > 3) d[1] = d[2] = d[3] = 0;
      expect(() => inject(d)).not.toThrow();
    }
  });

  test('a replayed initiation is refused and does not disturb the session', () => {
    const t = established();
    const initiation = t.captured.find((w) => typeOf(w.data) === MessageType.Initiation)!.data;
    const sessionBefore = t.peerOfB().current;
    t.clock.advance(1000);
    t.inject('b', initiation, endpoint([203, 0, 113, 9], 4444));
    expect(t.b.drops['replayed-initiation']).toBe(1);
    expect(t.peerOfB().current).toBe(sessionBefore);
    expect(t.peerOfB().endpoint?.key).toBe(t.epA.key);
    t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 10));
    t.deliver();
    expect(t.tunB).toHaveLength(2);
  });

  test('a replayed data packet from another address neither arrives nor moves the endpoint', () => {
    const t = established();
    const data = t.captured.find((w) => typeOf(w.data) === MessageType.Transport)!.data;
    t.inject('b', data, endpoint([203, 0, 113, 9], 4444));
    expect(t.b.drops['replayed-counter']).toBe(1);
    expect(t.peerOfB().endpoint?.key).toBe(t.epA.key);
    expect(t.tunB).toHaveLength(1);
  });

  test('a peer sending from an inner address that is not its own is dropped', () => {
    const t = established();
    t.sendFromA(ipv4Packet('10.0.0.9', '10.0.0.2', 10));
    t.deliver();
    expect(t.b.drops['source-not-allowed']).toBe(1);
    expect(t.tunB).toHaveLength(1);
  });

  test('a packet for no peer is dropped as no-route; an unknown key as unknown-peer', () => {
    const t = new TwoPeers({ bKnowsA: false });
    t.sendFromA(ipv4Packet('10.0.0.1', '10.9.9.9', 10));
    expect(t.a.drops['no-route']).toBe(1);
    t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 10));
    t.deliver();
    expect(t.b.drops['unknown-peer']).toBe(1);
    expect(t.wire).toHaveLength(0);
  });

  test('drop reasons are a closed list', () => {
    expect(Object.keys(new TwoPeers().a.drops).sort()).toEqual([...DropReasons].sort());
  });

  test('ipPacketLength validates IPv4 and IPv6 headers', () => {
    expect(ipPacketLength(ipv4Packet('1.2.3.4', '5.6.7.8', 12))).toBe(32);
    const v6 = new Uint8Array(60);
    v6[0] = 0x60;
    v6[5] = 20;
    expect(ipPacketLength(v6)).toBe(60);
    v6[5] = 21;
    expect(ipPacketLength(v6)).toBe(-1);
    expect(ipPacketLength(new Uint8Array([0x45]))).toBe(-1);
    expect(ipPacketLength(new Uint8Array(40))).toBe(-1);
  });
});

describe('events and per-peer drops', () => {
  test('the device reports a new endpoint and a completed handshake, once each, and counts drops per peer', () => {
    const seen: string[] = [];
    const t = new TwoPeers({
      b: {
        events: {
          endpointChanged: (peer, now) => seen.push(`endpoint ${peer.endpoint!.key} at ${now.mono}`),
          handshakeCompleted: (peer) => seen.push(`handshake ${peer === t.peerOfB()}`),
        },
      },
    });
    t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 100));
    t.deliver();
    // Responder: the endpoint is learned from the initiation, the session completes on A's first packet.
    expect(seen).toEqual([`endpoint ${t.epA.key} at ${t.clock.mono}`, 'handshake true']);
    t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 100));
    t.deliver();
    expect(seen).toHaveLength(2); // same endpoint: nothing to report

    const roamed = endpoint([198, 51, 100, 7], 4000);
    t.a.fromTunnel(ipv4Packet('10.0.0.1', '10.0.0.2', 100), t.clock.now(), t.sinkA);
    t.inject('b', t.wire.shift()!.data, roamed);
    expect(seen).toEqual([
      `endpoint ${t.epA.key} at ${t.clock.mono}`,
      'handshake true',
      `endpoint ${roamed.key} at ${t.clock.mono}`,
    ]);

    // A tampered packet of a known session: counted for the device and for the peer.
    t.a.fromTunnel(ipv4Packet('10.0.0.1', '10.0.0.2', 100), t.clock.now(), t.sinkA);
    const bad = t.wire.shift()!.data;
    bad[bad.length - 1]! ^= 1;
    t.inject('b', bad, roamed);
    expect(t.b.drops['decrypt-failed']).toBe(1);
    expect(t.peerOfB().drops['decrypt-failed']).toBe(1);
    // A datagram for no session has no peer: the device total only.
    t.inject('b', Uint8Array.of(4, 0, 0, 0, ...new Array<number>(28).fill(0)));
    expect(t.b.drops['unknown-index']).toBe(1);
    expect(t.peerOfB().drops['unknown-index']).toBe(0);
  });

  test('the initiator reports its completed handshake on the response', () => {
    let completed = 0;
    const t = new TwoPeers({ a: { events: { handshakeCompleted: () => completed++ } } });
    t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 100));
    t.deliver();
    expect(completed).toBe(1);
  });
});

describe('timers on a fake clock', () => {
  test('a passive keepalive follows received data after 10 s of silence', () => {
    const t = established();
    t.captured.length = 0;
    t.run(KEEPALIVE_TIMEOUT + 200);
    const keepalives = t.captured.filter(
      (w) => w.from === 'b' && typeOf(w.data) === MessageType.Transport && w.data.length === 32,
    );
    expect(keepalives).toHaveLength(1);
  });

  test('the initiator re-keys after Rekey-After-Time when it sends', () => {
    const t = established();
    const first = t.peerOfA().current;
    t.clock.advance(REKEY_AFTER_TIME + 1);
    t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 10));
    expect(t.wire.map((w) => typeOf(w.data))).toEqual([MessageType.Transport, MessageType.Initiation]);
    t.deliver();
    expect(t.peerOfA().current).not.toBe(first);
    expect(t.peerOfA().previous).toBe(first);
    expect(t.tunB).toHaveLength(2);
  });

  test('the responder also re-keys after Rekey-After-Messages when it sends (Finding 14)', () => {
    const t = established();
    const current = t.peerOfB().current!;
    expect(current.isInitiator).toBe(false);
    t.clock.advance(REKEY_TIMEOUT + 1); // B's response was sent just now
    current.sendCounter = REKEY_SEND_COUNTER - 1;
    t.sendFromB(ipv4Packet('10.0.0.2', '10.0.0.1', 10));
    expect(t.wire.map((w) => typeOf(w.data))).toEqual([MessageType.Transport, MessageType.Initiation]);
    t.deliver();
    expect(t.peerOfB().current).not.toBe(current);
    expect(t.peerOfB().current!.isInitiator).toBe(true);
    expect(t.tunA).toHaveLength(1);
  });

  test('after Reject-After-Time a keypair is refused and a new handshake carries the packet', () => {
    const t = established();
    const old = t.captured.find((w) => typeOf(w.data) === MessageType.Transport)!;
    t.clock.advance(REJECT_AFTER_TIME + 1);
    t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 10));
    expect(t.wire.map((w) => typeOf(w.data))).toEqual([MessageType.Initiation]);
    t.deliver();
    expect(t.tunB).toHaveLength(2);
    // an old-session packet is past its time
    t.inject('b', old.data);
    expect(t.b.drops['keypair-expired'] + t.b.drops['unknown-index']).toBe(1);
  });

  test('handshake retransmits every 5 s (+jitter) and gives up after 90 s', () => {
    const t = new TwoPeers();
    t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 10));
    t.wire.length = 0;
    let initiations = 1;
    for (let ms = 0; ms < REKEY_ATTEMPT_TIME + 30_000; ms += 100) {
      t.clock.advance(100);
      t.tick();
      initiations += t.wire.filter((w) => typeOf(w.data) === MessageType.Initiation).length;
      t.wire.length = 0; // the network eats everything
    }
    // one initial + 18 retransmissions (Rekey-Attempt-Time / Rekey-Timeout), then silence
    expect(initiations).toBe(1 + REKEY_ATTEMPT_TIME / REKEY_TIMEOUT);
    expect(t.peerOfA().staged).toHaveLength(0);
  });

  test('a lost response is recovered by retransmission', () => {
    const t = new TwoPeers();
    t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 10));
    t.deliver(1); // initiation reaches B
    t.wire.length = 0; // response lost
    t.run(REKEY_TIMEOUT + 500);
    expect(t.tunB).toHaveLength(1);
  });

  test('persistent keepalive starts the handshake at once and repeats', () => {
    const t = new TwoPeers({ keepaliveA: 25 });
    t.tick();
    expect(t.wire.map((w) => typeOf(w.data))).toEqual([MessageType.Initiation]);
    t.deliver();
    t.captured.length = 0;
    t.run(25_000 * 2 + 500);
    const fromA = t.captured.filter((w) => w.from === 'a' && typeOf(w.data) === MessageType.Transport);
    expect(fromA.length).toBeGreaterThanOrEqual(2);
  });

  test('key material is wiped after 3 × Reject-After-Time without a new session', () => {
    const t = established();
    t.run(REJECT_AFTER_TIME * 3 + 1000, 1000);
    expect(t.peerOfA().current).toBeNull();
    expect(t.peerOfB().current).toBeNull();
  });

  test('an active connection re-keys on its own and never stalls', () => {
    const t = established();
    let sent = 1;
    for (let s = 0; s < 600; s++) {
      t.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 10));
      t.sendFromB(ipv4Packet('10.0.0.2', '10.0.0.1', 10));
      sent++;
      t.run(1000, 250);
    }
    expect(t.tunB).toHaveLength(sent);
    expect(t.tunA).toHaveLength(sent - 1);
  });
});

describe('cookies under load', () => {
  test('an initiation without MAC2 gets a cookie reply; the retry with MAC2 succeeds', () => {
    const { a, b, keyB, epA, epB } = underLoadPair({ keys: 'load', a: 'la', b: 'lb' });
    const toB: Uint8Array[] = [];
    const toA: Uint8Array[] = [];
    const tunB: Uint8Array[] = [];
    const sinkA = { toNetwork: (d: Uint8Array) => toB.push(Uint8Array.from(d)), toTunnel: () => {} };
    const sinkB = {
      toNetwork: (d: Uint8Array) => toA.push(Uint8Array.from(d)),
      toTunnel: (p: Uint8Array) => tunB.push(p),
    };
    let mono = 0;
    const now = () => ({ mono, wall: 1_700_000_000_000 + mono });
    a.fromTunnel(ipv4Packet('10.0.0.1', '10.0.0.2', 10), now(), sinkA);
    b.fromNetwork(toB.shift()!, epA, now(), sinkB);
    expect(b.drops['mac2-invalid']).toBe(1);
    expect(toA.map((d) => d[0])).toEqual([MessageType.CookieReply]);
    mono = 30; // one round trip later
    a.fromNetwork(toA.shift()!, epB, now(), sinkA);
    expect(a.drops['cookie-invalid']).toBe(0);
    // the initiation goes again at once (not after Rekey-Timeout), with MAC2, and passes
    expect(toB.map((d) => d[0])).toEqual([MessageType.Initiation]);
    b.fromNetwork(toB.shift()!, epA, now(), sinkB);
    expect(toA.map((d) => d[0])).toEqual([MessageType.Response]);
    a.fromNetwork(toA.shift()!, epB, now(), sinkA);
    expect(a.peer(publicKeyOf(keyB))!.current).not.toBeNull();
    b.fromNetwork(toB.shift()!, epA, now(), sinkB);
    expect(tunB).toHaveLength(1);
    expect(b.drops['mac2-invalid']).toBe(1);
  });

  test('MAC2 is bound to the source address, and cookie replies make an initiator resend at most once per attempt', () => {
    const { a, b, epA, epB } = underLoadPair({ keys: 'load2', a: 'la', b: 'lb' });
    const elsewhere = endpoint([192, 0, 2, 9], 1000);
    const toB: Uint8Array[] = [];
    const toA: Uint8Array[] = [];
    const sinkA = { toNetwork: (d: Uint8Array) => toB.push(Uint8Array.from(d)), toTunnel: () => {} };
    const sinkB = { toNetwork: (d: Uint8Array) => toA.push(Uint8Array.from(d)), toTunnel: () => {} };
    const now = { mono: 0, wall: 1_700_000_000_000 };
    a.fromTunnel(ipv4Packet('10.0.0.1', '10.0.0.2', 10), now, sinkA);
    // The cookie is for `elsewhere`: the resent initiation's MAC2 does not fit epA.
    b.fromNetwork(toB.shift()!, elsewhere, now, sinkB);
    a.fromNetwork(toA.shift()!, epB, now, sinkA);
    expect(toB).toHaveLength(1);
    b.fromNetwork(toB.shift()!, epA, now, sinkB);
    expect(b.drops['mac2-invalid']).toBe(2);
    expect(toA.map((d) => d[0])).toEqual([MessageType.CookieReply]);
    // A second cookie reply to the resent initiation does not make A send again: it waits for Rekey-Timeout.
    a.fromNetwork(toA.shift()!, epB, now, sinkA);
    expect(a.drops['cookie-invalid']).toBe(0);
    expect(toB).toHaveLength(0);
    a.tick({ mono: REKEY_TIMEOUT + 400, wall: now.wall + REKEY_TIMEOUT + 400 }, sinkA);
    expect(toB.map((d) => d[0])).toEqual([MessageType.Initiation]);
  });
});

describe('link-local sources', () => {
  test('an IPv6 link-local or unspecified inner source is its own drop reason, not spoofing', () => {
    const t = established();
    const v6 = (src: number[]) => {
      const p = new Uint8Array(48);
      p[0] = 0x60;
      p[5] = 8;
      p[6] = 58;
      p.set(src, 8);
      return p;
    };
    const peerB = t.peerOfB();
    t.a.sendPacket(t.peerOfA(), v6([0xfe, 0x80, ...new Array<number>(13).fill(0), 1]), t.clock.now(), t.sinkA);
    t.a.sendPacket(t.peerOfA(), v6(new Array<number>(16).fill(0)), t.clock.now(), t.sinkA);
    t.a.sendPacket(t.peerOfA(), v6([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(12).fill(1)]), t.clock.now(), t.sinkA);
    t.deliver();
    expect(peerB).toBeDefined();
    expect(t.b.drops['link-local']).toBe(2);
    expect(t.b.drops['source-not-allowed']).toBe(1);
  });
});

describe('handshake secrets are wiped when no longer needed (Finding 11b)', () => {
  /**
   * An X25519 backend around the real one that knows which imported keys are
   * still live, and refuses a released key.
   */
  function spyX25519(inner: X25519Backend) {
    const live = new Set<{ inner: unknown }>();
    const backend: X25519Backend = {
      name: 'spy',
      importPrivateKey(privateKey) {
        const key = { inner: inner.importPrivateKey(privateKey) };
        live.add(key);
        return key;
      },
      publicKey: (key, out) => inner.publicKey((key as { inner: unknown }).inner, out),
      derive(key, publicKey, out) {
        if (!live.has(key as { inner: unknown })) throw new Error('a released key was used');
        return inner.derive((key as { inner: unknown }).inner, publicKey, out);
      },
      release(key) {
        live.delete(key as { inner: unknown });
        inner.release((key as { inner: unknown }).inner);
      },
    };
    return { backend, live };
  }

  /** Two devices whose random sources hand out arrays that the test keeps (the ephemeral keys among them). */
  function setup() {
    const spy = spyX25519(nodeX25519);
    const crypto = { ...nodeCrypto, x25519: spy.backend };
    const handedOut: Uint8Array[] = [];
    const keeping = (seed: string) => {
      const r = seededRandom(seed);
      return (n: number) => {
        const out = r(n);
        if (n === 32) handedOut.push(out);
        return out;
      };
    };
    const rnd = seededRandom('wipe');
    const keyA = rnd(32);
    const keyB = rnd(32);
    const a = new Device({ privateKey: keyA, random: keeping('wa'), crypto });
    const b = new Device({ privateKey: keyB, random: keeping('wb'), crypto });
    const epA = endpoint([192, 0, 2, 1], 1000);
    const epB = endpoint([192, 0, 2, 2], 2000);
    const peerOfA = a.addPeer({ publicKey: publicKeyOf(keyB), allowedIps: [parseCidr('10.0.0.2/32')], endpoint: epB });
    b.addPeer({ publicKey: publicKeyOf(keyA), allowedIps: [parseCidr('10.0.0.1/32')] });
    const toB: Uint8Array[] = [];
    const toA: Uint8Array[] = [];
    const sinkA = { toNetwork: (d: Uint8Array) => toB.push(Uint8Array.from(d)), toTunnel: () => {} };
    const sinkB = { toNetwork: (d: Uint8Array) => toA.push(Uint8Array.from(d)), toTunnel: () => {} };
    let mono = 0;
    const now = () => ({ mono, wall: 1_700_000_000_000 + mono });
    const advance = (ms: number) => (mono += ms);
    const staticKeys = spy.live.size; // the two devices' own keys, live for good
    const ephemeralsLive = () => spy.live.size - staticKeys;
    const allZero = () => handedOut.every((x) => x.every((byte) => byte === 0));
    return { a, b, epA, epB, peerOfA, toA, toB, sinkA, sinkB, now, advance, ephemeralsLive, allZero, handedOut };
  }

  test('completion: the initiator drops its ephemeral when the response is taken, the responder right after answering', () => {
    const t = setup();
    t.a.fromTunnel(ipv4Packet('10.0.0.1', '10.0.0.2', 10), t.now(), t.sinkA);
    expect(t.handedOut).toHaveLength(1);
    expect(t.ephemeralsLive()).toBe(1); // waiting for the response
    const initiation = t.peerOfA.initiation!;
    t.b.fromNetwork(t.toB.shift()!, t.epA, t.now(), t.sinkB);
    expect(t.handedOut).toHaveLength(2);
    expect(t.ephemeralsLive()).toBe(1); // the responder's is gone already
    t.a.fromNetwork(t.toA.shift()!, t.epB, t.now(), t.sinkA);
    expect(t.peerOfA.current).not.toBeNull();
    expect(t.ephemeralsLive()).toBe(0);
    expect(initiation.chainingKey.every((x) => x === 0)).toBe(true);
    expect(t.allZero()).toBe(true);
  });

  test('replacement: a retransmission replaces the waiting initiation and its ephemeral', () => {
    const t = setup();
    t.a.fromTunnel(ipv4Packet('10.0.0.1', '10.0.0.2', 10), t.now(), t.sinkA);
    const first = t.peerOfA.initiation!;
    for (let i = 0; i < 100 && t.peerOfA.initiation === first; i++) {
      t.advance(100);
      t.a.tick(t.now(), t.sinkA);
    }
    expect(t.peerOfA.initiation).not.toBe(first);
    expect(t.handedOut).toHaveLength(2);
    expect(t.ephemeralsLive()).toBe(1); // only the new one
    expect(first.chainingKey.every((x) => x === 0)).toBe(true);
    expect(t.allZero()).toBe(true);
  });

  test('give-up: after Rekey-Attempt-Time nothing of the handshake is left', () => {
    const t = setup();
    t.a.fromTunnel(ipv4Packet('10.0.0.1', '10.0.0.2', 10), t.now(), t.sinkA);
    for (let ms = 0; ms < REKEY_ATTEMPT_TIME + 30_000; ms += 100) {
      t.advance(100);
      t.a.tick(t.now(), t.sinkA);
    }
    expect(t.peerOfA.initiation).toBeNull();
    expect(t.handedOut.length).toBe(1 + REKEY_ATTEMPT_TIME / REKEY_TIMEOUT);
    expect(t.ephemeralsLive()).toBe(0);
    expect(t.allZero()).toBe(true);
  });

  test('removing a peer forgets its waiting initiation and the static-static DH', () => {
    const t = setup();
    t.a.fromTunnel(ipv4Packet('10.0.0.1', '10.0.0.2', 10), t.now(), t.sinkA);
    const ss = t.peerOfA.remote.staticStatic!;
    expect(t.a.removePeer(t.peerOfA.publicKey)).toBe(true);
    expect(t.ephemeralsLive()).toBe(0);
    expect(ss.every((x) => x === 0)).toBe(true);
  });

  test('our static private key: the backend gets the caller’s bytes, and the identity holds no copy', () => {
    const seen: Uint8Array[] = [];
    const crypto = {
      ...nodeCrypto,
      x25519: { ...nodeX25519, importPrivateKey: (k: Uint8Array) => (seen.push(k), nodeX25519.importPrivateKey(k)) },
    };
    const key = seededRandom('static')(32);
    const device = new Device({ privateKey: key, random: seededRandom('s'), crypto });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBe(key);
    const hex = Buffer.from(key).toString('hex');
    const arrays = Object.values(device.identity).filter((v): v is Uint8Array => v instanceof Uint8Array);
    expect(arrays.some((v) => Buffer.from(v).toString('hex') === hex)).toBe(false);
  });
});
