// Two WireGuard devices joined by an in-memory network, with a fake clock:
// the harness for protocol unit tests. Nothing here opens a socket or sleeps.

import { createHash } from 'node:crypto';
import { parseCidr } from '../../shared/net/address.js';
import { publicKeyOf, type RandomBytes } from '../../shared/wireguard/crypto.js';
import { Device, type DeviceOptions, type Now, type Sink } from '../../shared/wireguard/device.js';
import type { PeerEndpoint } from '../../shared/wireguard/peer.js';

/** Deterministic random bytes from a seed (SHA-256 in counter mode). */
export function seededRandom(seed: string): RandomBytes {
  let counter = 0;
  let pool = Buffer.alloc(0);
  return (n: number) => {
    while (pool.length < n) {
      pool = Buffer.concat([pool, createHash('sha256').update(`${seed}:${counter++}`).digest()]);
    }
    const out = new Uint8Array(pool.subarray(0, n));
    pool = pool.subarray(n);
    return out;
  };
}

export function endpoint(ip4: [number, number, number, number], port: number): PeerEndpoint {
  const address = new Uint8Array(16);
  address[10] = 0xff;
  address[11] = 0xff;
  address.set(ip4, 12);
  return { address, port, key: `${ip4.join('.')}:${port}` };
}

/** A minimal IPv4 packet from src to dst with `payload` bytes (the core only reads addresses and length). */
export function ipv4Packet(src: string, dst: string, payload: number | Uint8Array): Uint8Array {
  const body = typeof payload === 'number' ? new Uint8Array(payload).fill(0xab) : payload;
  const p = new Uint8Array(20 + body.length);
  p[0] = 0x45;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[8] = 64;
  p[9] = 17;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  p.set(body, 20);
  return p;
}

export interface Wire {
  from: 'a' | 'b';
  data: Uint8Array;
  to: PeerEndpoint;
}

export class FakeClock {
  mono = 1_000_000;
  wall = 1_750_000_000_000;
  now(): Now {
    return { mono: this.mono, wall: this.wall };
  }
  advance(ms: number): void {
    this.mono += ms;
    this.wall += ms;
  }
}

/** What a test may add to a side's DeviceOptions (control handler, events, crypto backend...). */
export type SideOptions = Partial<Omit<DeviceOptions, 'privateKey' | 'random'>>;

/** Side A (10.0.0.1, 192.0.2.1:51820) and side B (10.0.0.2, 192.0.2.2:51821). */
export class TwoPeers {
  readonly clock = new FakeClock();
  readonly a: Device;
  readonly b: Device;
  readonly epA = endpoint([192, 0, 2, 1], 51820);
  readonly epB = endpoint([192, 0, 2, 2], 51821);
  /** Datagrams in flight, in order. */
  wire: Wire[] = [];
  /** Everything ever sent, for replay tests. */
  readonly captured: Wire[] = [];
  readonly tunA: Uint8Array[] = [];
  readonly tunB: Uint8Array[] = [];
  readonly sinkA: Sink;
  readonly sinkB: Sink;

  constructor(
    options: {
      psk?: Uint8Array;
      keepaliveA?: number;
      keepaliveB?: number;
      bKnowsA?: boolean;
      seed?: string;
      a?: SideOptions;
      b?: SideOptions;
    } = {},
  ) {
    const rnd = seededRandom(options.seed ?? 'two-peers');
    const keyA = rnd(32);
    const keyB = rnd(32);
    this.a = new Device({ ...options.a, privateKey: keyA, random: seededRandom('a') });
    this.b = new Device({ ...options.b, privateKey: keyB, random: seededRandom('b') });
    this.a.addPeer({
      publicKey: publicKeyOf(keyB),
      presharedKey: options.psk,
      allowedIps: [parseCidr('10.0.0.2/32')],
      endpoint: this.epB,
      persistentKeepalive: options.keepaliveA,
    });
    if (options.bKnowsA !== false) {
      this.b.addPeer({
        publicKey: publicKeyOf(keyA),
        presharedKey: options.psk,
        allowedIps: [parseCidr('10.0.0.1/32')],
        endpoint: null,
        persistentKeepalive: options.keepaliveB,
      });
    }
    const sink = (from: 'a' | 'b', tun: Uint8Array[]): Sink => ({
      toNetwork: (data, to) => {
        const w = { from, data: Uint8Array.from(data), to };
        this.wire.push(w);
        this.captured.push(w);
      },
      toTunnel: (packet) => tun.push(Uint8Array.from(packet)),
    });
    this.sinkA = sink('a', this.tunA);
    this.sinkB = sink('b', this.tunB);
  }

  /** Delivers datagrams in flight until none are left (or `max` were delivered). */
  deliver(max = 1000): number {
    let n = 0;
    while (this.wire.length > 0 && n < max) {
      const w = this.wire.shift()!;
      this.inject(w.from === 'a' ? 'b' : 'a', w.data);
      n++;
    }
    return n;
  }

  /** Hands a datagram to one side as if it came from the other's endpoint (or `from`). */
  inject(to: 'a' | 'b', data: Uint8Array, from?: PeerEndpoint): void {
    if (to === 'b') this.b.fromNetwork(data, from ?? this.epA, this.clock.now(), this.sinkB);
    else this.a.fromNetwork(data, from ?? this.epB, this.clock.now(), this.sinkA);
  }

  sendFromA(packet: Uint8Array): void {
    this.a.fromTunnel(packet, this.clock.now(), this.sinkA);
  }

  sendFromB(packet: Uint8Array): void {
    this.b.fromTunnel(packet, this.clock.now(), this.sinkB);
  }

  tick(): void {
    this.a.tick(this.clock.now(), this.sinkA);
    this.b.tick(this.clock.now(), this.sinkB);
  }

  /** Advances the clock in steps, ticking both sides and delivering traffic. */
  run(ms: number, step = 100): void {
    for (let t = 0; t < ms; t += step) {
      this.clock.advance(step);
      this.tick();
      this.deliver();
    }
  }

  peerOfA() {
    return [...this.a.peers()][0]!;
  }

  peerOfB() {
    return [...this.b.peers()][0]!;
  }
}

/**
 * Devices A (192.0.2.1:1000) and B (192.0.2.2:2000) for cookie tests: B is always
 * under load, so an initiation without MAC2 gets a cookie reply. A knows B's endpoint;
 * B knows A without one. The seeds pick the static keys and each side's randomness.
 */
export function underLoadPair(seeds: { keys: string; a: string; b: string }) {
  const rnd = seededRandom(seeds.keys);
  const keyA = rnd(32);
  const keyB = rnd(32);
  const a = new Device({ privateKey: keyA, random: seededRandom(seeds.a) });
  const b = new Device({ privateKey: keyB, random: seededRandom(seeds.b), underLoadPerSecond: 0 });
  const epA = endpoint([192, 0, 2, 1], 1000);
  const epB = endpoint([192, 0, 2, 2], 2000);
  a.addPeer({ publicKey: publicKeyOf(keyB), allowedIps: [parseCidr('10.0.0.2/32')], endpoint: epB });
  b.addPeer({ publicKey: publicKeyOf(keyA), allowedIps: [parseCidr('10.0.0.1/32')] });
  return { a, b, keyB, epA, epB };
}
