// Micro-benchmark of the shaper's cost (gateway/traffic/): how many full-size
// packets/s the gateway's side of the protocol core handles without a shaper
// and with accounting, rate limits and the link scheduler, in one process on
// one core, as a ratio to the same Devices without a shaper.
//
//   per scene: a gateway Device with 1 or 200 configured clients, one client
//              Device per client, real handshakes in memory, then per round
//   download:  gateway.fromTunnel (route → shaper → seal → sink: copied into a
//              tx batch slot, as the UDP bind does); batches of 64 packets with
//              the runner's batch-end release() and nextRelease()
//   upload:    the clients seal (untimed), gateway.fromNetwork (open → source
//              check → shaper → sink: copied into a TUN tx slot), timed alone
//   variants:  a no shaper (a2: the same on other Devices, the noise floor)
//              b TrafficControl, every client unlimited (accounting)
//              c rate limits + quota far above what is sent (buckets never bind)
//              d c + uplinkCapacity far above (link scheduler on, never binding)
//              e c + uplinkCapacity binding: packets queue and leave by release()
//   clients:   1 configured; 200 configured, one sends ("200/one"); 200, all
//              send, round-robin packet by packet (200/all: the worst case
//              for memory locality); 4 flows each
//
// Time: each scene has its own clock that advances by the measured time of its
// timed sections, so buckets refill as they would; in e a batch's queue is
// drained the way the runner's release timer does it (the clock jumps to
// nextRelease(), at least 1 ms, the timer's granularity), so most packets
// (about 5 in 6) wait in a queue and leave through release(). Rounds interleave the variants
// (rotated start); the ratios are medians over rounds of the per-round ratio
// to a. Only the gateway's work is timed, as CPU time of this process (so
// other work on the machine hardly skews it): no syscalls here, so a tunnel's
// real per-packet cost is higher and the shaper's share of it lower.
//
//   npx vite-node bench/traffic-micro.ts   (ROUNDS=60, PACKETS=4096 per direction,
//                                           scene and round; MESHGATE_AEAD=node)

import { TrafficControl } from '../gateway/traffic/traffic.js';
import { ClientUsage } from '../gateway/traffic/usage.js';
import {
  ACCOUNTING_PERIOD_DEFAULT,
  defaultBurst,
  UNLIMITED,
  type TrafficPolicy,
  type UplinkCapacity,
} from '../gateway/traffic/policy.js';
import { daemonCrypto } from '../shared/io/native-aead.js';
import { parseCidr } from '../shared/net/address.js';
import { publicKeyOf } from '../shared/wireguard/crypto.js';
import { Device, type Now, type Sink } from '../shared/wireguard/device.js';
import { formatKey } from '../shared/wireguard/keys.js';
import type { PeerEndpoint } from '../shared/wireguard/peer.js';
import { endpoint, seededRandom } from '../test/support/two-peers.js';

const ROUNDS = Number(process.env.ROUNDS ?? 60);
const PACKETS = Number(process.env.PACKETS ?? 4096);
const SIZE = 1420; // tunnel MTU: full-size inner packets
const BATCH = 64; // the TUN and UDP binds' default batch
const CHUNK = 4096; // upload datagrams sealed ahead, then opened timed
const FLOWS = 4; // per client and direction
const TIMER_MS = 1; // setTimeout granularity of the runner's release timer
const INTERNET = [198, 51, 100, 1];
const GATEWAY_TUNNEL = [10, 66, 0, 1];

const FAR = 10e9; // bit/s: rate limits far above what one core seals
const policyLimits: TrafficPolicy = {
  name: 'far',
  quota: {
    bytes: 1e15,
    period: ACCOUNTING_PERIOD_DEFAULT('UTC'),
    count: 'both',
    atQuota: 'block',
    throttle: null,
  },
  down: { bitsPerSecond: FAR, burstBytes: defaultBurst(FAR) },
  up: { bitsPerSecond: FAR, burstBytes: defaultBurst(FAR) },
  weight: 1,
};

type VariantName = 'a' | 'a2' | 'b' | 'c' | 'd' | 'e';
interface Variant {
  name: VariantName;
  label: string;
  shaper: { policy: TrafficPolicy; capacity: UplinkCapacity } | null;
}
const BINDING = 200e6; // bit/s in e: far below what the gateway seals or opens here
const VARIANTS: Variant[] = [
  { name: 'a', label: 'no shaper', shaper: null },
  { name: 'a2', label: 'no shaper, other Devices (control)', shaper: null },
  { name: 'b', label: 'accounting (unlimited)', shaper: { policy: UNLIMITED, capacity: { down: null, up: null } } },
  { name: 'c', label: '+ rate limits, quota', shaper: { policy: policyLimits, capacity: { down: null, up: null } } },
  {
    name: 'd',
    label: '+ capacity, not binding',
    shaper: { policy: policyLimits, capacity: { down: 100e9, up: 100e9 } },
  },
  {
    name: 'e',
    label: `capacity binding (${BINDING / 1e6} Mbit/s)`,
    shaper: { policy: policyLimits, capacity: { down: BINDING, up: BINDING } },
  },
];
/** Configured clients, and how many of them send (round-robin, packet by packet). */
interface Load {
  count: number;
  active: number;
}
const LOADS: Load[] = [
  { count: 1, active: 1 },
  { count: 200, active: 1 },
  { count: 200, active: 200 },
];
const loadName = (l: Load) => (l.count === 1 ? '1' : `${l.count}/${l.active === 1 ? 'one' : 'all'}`);

/** Monotonic ms advancing by measured time while running, and by jumps (e). */
class BenchClock {
  mono = 1_000_000;
  wall = Date.UTC(2026, 11, 2);
  private last = 0;
  /** Starts a timed section: time outside timed sections does not count. */
  resume(): void {
    this.last = performance.now();
  }
  /** The time now, not advancing it (untimed work). */
  peek(): Now {
    return { mono: this.mono, wall: this.wall };
  }
  now(): Now {
    const t = performance.now();
    this.mono += t - this.last;
    this.wall += t - this.last;
    this.last = t;
    return { mono: this.mono, wall: this.wall };
  }
  jumpTo(mono: number): Now {
    this.now();
    if (mono > this.mono) {
      this.wall += mono - this.mono;
      this.mono = mono;
    }
    return { mono: this.mono, wall: this.wall };
  }
}

/** A full-size IPv4 UDP packet with ports (the shaper hashes the 5-tuple). */
function packet(src: number[], dst: number[], sport: number, dport: number): Uint8Array {
  const p = new Uint8Array(SIZE);
  p[0] = 0x45;
  p[2] = SIZE >> 8;
  p[3] = SIZE & 0xff;
  p[8] = 64;
  p[9] = 17;
  p.set(src, 12);
  p.set(dst, 16);
  p[20] = sport >> 8;
  p[21] = sport & 0xff;
  p[22] = dport >> 8;
  p[23] = dport & 0xff;
  p.fill(0xab, 28);
  return p;
}

/** What the runner's binds do with a packet handed to them: copy it into a batch slot. */
class TxSlots {
  count = 0;
  bytes = 0;
  private readonly slots = Array.from({ length: BATCH }, () => new Uint8Array(2048));
  copy(data: Uint8Array): void {
    this.slots[this.count++ % BATCH]!.set(data);
    this.bytes += data.length;
  }
}

interface Client {
  device: Device;
  ep: PeerEndpoint;
  ip: number[];
  down: Uint8Array[];
  up: Uint8Array[];
}

class Scene {
  readonly clock = new BenchClock();
  readonly gateway: Device;
  readonly tc: TrafficControl | null;
  readonly clients: Client[] = [];
  readonly gwEp = endpoint([192, 0, 2, 1], 51820);
  readonly tx = new TxSlots();
  readonly gwSink: Sink;
  /** Datagrams in flight during setup, to the gateway ('gw') or a client's index. */
  private wire: { to: 'gw' | number; data: Uint8Array; from: PeerEndpoint }[] = [];

  constructor(
    readonly variant: Variant,
    readonly count: number,
    readonly active: number,
  ) {
    const crypto = daemonCrypto();
    const rnd = seededRandom(`traffic-micro:${variant.name}:${count}`);
    const gwKey = rnd(32);
    const now = this.clock.now();
    const byEndpoint = new Map<string, number>();
    this.gwSink = {
      toNetwork: (data, to) => {
        if (this.setup) this.wire.push({ to: byEndpoint.get(to.key)!, data: Uint8Array.from(data), from: this.gwEp });
        else this.tx.copy(data);
      },
      toTunnel: (p) => this.tx.copy(p),
    };
    const s = variant.shaper;
    this.tc =
      s === null
        ? null
        : new TrafficControl({
            capacity: s.capacity,
            gatewayIpv4: Uint8Array.from(GATEWAY_TUNNEL),
            gatewayIpv6: new Uint8Array(16),
            random: seededRandom('tc'),
            now: now.mono,
          });
    this.gateway = new Device({ privateKey: gwKey, random: rnd, crypto, ...(this.tc ? { shaper: this.tc } : {}) });
    for (let i = 0; i < count; i++) {
      const key = rnd(32);
      const ip = [10, 66, 0, 2 + i];
      const ep = endpoint([192, 0, 2, 2 + i], 51821);
      byEndpoint.set(ep.key, i);
      const device = new Device({ privateKey: key, random: seededRandom(`c${i}`), crypto });
      device.addPeer({ publicKey: publicKeyOf(gwKey), allowedIps: [parseCidr('0.0.0.0/0')], endpoint: this.gwEp });
      const peer = this.gateway.addPeer({
        publicKey: publicKeyOf(key),
        allowedIps: [parseCidr(`${ip.join('.')}/32`)],
        endpoint: null,
      });
      if (this.tc !== null && s !== null) {
        const usage = new ClientUsage(formatKey(publicKeyOf(key)), s.policy, 'UTC', now.wall, undefined);
        this.tc.add(peer, usage, now.mono);
      }
      const down: Uint8Array[] = [];
      const up: Uint8Array[] = [];
      for (let f = 0; f < FLOWS; f++) {
        down.push(packet(INTERNET, ip, 443, 40000 + f));
        up.push(packet(ip, INTERNET, 40000 + f, 443));
      }
      this.clients.push({ device, ep, ip, down, up });
    }
    this.handshakes();
  }

  private setup = true;

  /** Every client initiates; the first data packet confirms the session; one download proves the way back. */
  private handshakes(): void {
    const tunnels = this.clients.map(() => 0);
    const now = this.clock.now();
    this.clients.forEach((c, i) => {
      const sink: Sink = {
        toNetwork: (data) => this.wire.push({ to: 'gw', data: Uint8Array.from(data), from: c.ep }),
        toTunnel: () => void tunnels[i]!++,
      };
      c.device.fromTunnel(c.up[0]!, now, sink);
      for (let n = 0; this.wire.length > 0 && n < 100; n++) {
        const w = this.wire.shift()!;
        if (w.to === 'gw') this.gateway.fromNetwork(w.data, w.from, now, this.gwSink);
        else this.clients[w.to]!.device.fromNetwork(w.data, w.from, now, sink);
      }
      this.gateway.fromTunnel(c.down[0]!, now, this.gwSink);
      if (this.tc !== null) this.release(this.tc, now);
      const w = this.wire.shift();
      if (w !== undefined) this.clients[w.to as number]!.device.fromNetwork(w.data, w.from, now, sink);
    });
    if (tunnels.some((n) => n !== 1)) throw new Error(`scene ${this.variant.name}/${this.count}: a tunnel is not up`);
    this.setup = false;
  }

  /** PACKETS downloads through the gateway; returns the CPU seconds taken. */
  download(): number {
    const tc = this.tc;
    const clients = this.clients;
    const before = this.tx.count;
    this.clock.resume();
    const start = cpuMs();
    for (let sent = 0; sent < PACKETS;) {
      const now = this.clock.now();
      for (let k = 0; k < BATCH; k++, sent++) {
        const c = clients[sent % this.active]!;
        this.gateway.fromTunnel(c.down[((sent / this.active) % FLOWS) | 0]!, now, this.gwSink);
      }
      if (tc !== null) this.release(tc, now);
    }
    const ms = cpuMs() - start;
    this.check('download', this.tx.count - before);
    return ms / 1000;
  }

  /** PACKETS uploads, sealed by the clients in chunks (untimed), opened by the gateway (timed). */
  upload(chunk: Uint8Array[], lengths: number[], from: PeerEndpoint[]): number {
    const tc = this.tc;
    const clients = this.clients;
    const before = this.tx.count;
    let ms = 0;
    for (let done = 0; done < PACKETS;) {
      const n = Math.min(CHUNK, PACKETS - done);
      const sealNow = this.clock.peek();
      for (let k = 0; k < n; k++) {
        const i = (done + k) % this.active;
        const c = clients[i]!;
        from[k] = c.ep;
        c.device.fromTunnel(c.up[(((done + k) / this.active) % FLOWS) | 0]!, sealNow, {
          toNetwork: (data) => {
            chunk[k]!.set(data);
            lengths[k] = data.length;
          },
          toTunnel: () => {},
        });
      }
      this.clock.resume();
      const start = cpuMs();
      for (let b = 0; b < n; b += BATCH) {
        const now = this.clock.now();
        for (let k = b; k < b + BATCH && k < n; k++) {
          this.gateway.fromNetwork(chunk[k]!.subarray(0, lengths[k]), from[k]!, now, this.gwSink);
        }
        if (tc !== null) this.release(tc, now);
      }
      ms += cpuMs() - start;
      done += n;
    }
    this.check('upload', this.tx.count - before);
    return ms / 1000;
  }

  /** The runner's part: release() at the batch end, then on its timer at nextRelease() until nothing waits. */
  private release(tc: TrafficControl, now: Now): void {
    tc.release(now, this.gateway, this.gwSink);
    for (let at = tc.nextRelease(); at !== Infinity; at = tc.nextRelease()) {
      now = this.clock.jumpTo(Math.max(at, now.mono + TIMER_MS));
      tc.release(now, this.gateway, this.gwSink);
    }
  }

  private check(dir: string, handedOn: number): void {
    let drops = 0;
    for (const c of this.tc?.clients() ?? []) drops += c.down.drops + c.up.drops + c.quotaDrops;
    if (handedOn !== PACKETS || drops !== 0) {
      throw new Error(
        `${this.variant.name}/${this.count} ${dir}: ${handedOn} of ${PACKETS} packets handed on, ${drops} dropped`,
      );
    }
  }

  /** Bytes the shaper charged over all clients (0 without one). */
  charged(): number {
    let n = 0;
    for (const c of this.tc?.clients() ?? []) n += c.usage.downBytes + c.usage.upBytes;
    return n;
  }
}

/** CPU time of this process (user + system, all threads), ms: robust against other work on the machine. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// e's clock runs at the binding capacity; the clients' sessions must not reach Rekey-After-Time (120 s).
const eSeconds = ((ROUNDS + 1) * 2 * PACKETS * SIZE * 8) / BINDING;
if (eSeconds > 100) throw new Error(`ROUNDS × PACKETS too large: scene e would run ${eSeconds.toFixed(0)} s of clock`);

const crypto = daemonCrypto();
console.log(
  `traffic-micro: ${SIZE}-byte packets, ${PACKETS} per direction, scene and round, ${ROUNDS} rounds ` +
    `(+1 warm-up), ${crypto.aead.name}; setting up ${VARIANTS.length * LOADS.length} scenes…`,
);
const scenes = new Map<string, Scene>();
for (const l of LOADS)
  for (const v of VARIANTS) scenes.set(`${v.name}/${loadName(l)}`, new Scene(v, l.count, l.active));

const chunk = Array.from({ length: CHUNK }, () => new Uint8Array(2048));
const lengths = new Array<number>(CHUNK).fill(0);
const from = new Array<PeerEndpoint>(CHUNK);
type Dir = 'down' | 'up';
const pps = new Map<string, number[]>(); // `${variant}/${load}/${dir}` → per round
for (let round = 0; round <= ROUNDS; round++) {
  for (const load of LOADS) {
    const l = loadName(load);
    for (let k = 0; k < VARIANTS.length; k++) {
      const v = VARIANTS[(k + round) % VARIANTS.length]!;
      const scene = scenes.get(`${v.name}/${l}`)!;
      const down = PACKETS / scene.download();
      const up = PACKETS / scene.upload(chunk, lengths, from);
      if (round === 0) continue; // warm-up
      for (const [dir, x] of [
        ['down', down],
        ['up', up],
      ] as const) {
        const key = `${v.name}/${l}/${dir}`;
        pps.set(key, [...(pps.get(key) ?? []), x]);
      }
    }
  }
}

// The shaped scenes charged every packet they handed on (plus the setup packets).
for (const [key, scene] of scenes) {
  if (scene.tc === null) continue;
  const expected = (ROUNDS + 1) * 2 * PACKETS * SIZE + scene.count * 2 * SIZE;
  if (scene.charged() !== expected) throw new Error(`${key}: charged ${scene.charged()} bytes, expected ${expected}`);
}

console.log('\nvariant                                   clients  down kpps  ratio   up kpps  ratio');
const summary: Record<string, unknown>[] = [];
for (const load of LOADS) {
  const l = loadName(load);
  for (const v of VARIANTS) {
    const cells: string[] = [];
    const row: Record<string, unknown> = { variant: v.name, clients: load.count, sending: load.active };
    for (const dir of ['down', 'up'] as Dir[]) {
      const xs = pps.get(`${v.name}/${l}/${dir}`)!;
      const base = pps.get(`a/${l}/${dir}`)!;
      const ratio = median(xs.map((x, r) => x / base[r]!));
      cells.push(`${(median(xs) / 1000).toFixed(1).padStart(9)}  ${ratio.toFixed(3)}`);
      row[dir] = { pps: Math.round(median(xs)), ratio: Number(ratio.toFixed(4)) };
    }
    summary.push(row);
    console.log(`${v.name.padEnd(2)} ${v.label.padEnd(38)} ${l.padStart(7)}  ${cells.join('  ')}`);
  }
}
console.log(
  '\nratio: packets/s of the variant / packets/s of a in the same round, median over rounds (cost = 1 - ratio)',
);
if (process.env.JSON) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(process.env.JSON, JSON.stringify({ size: SIZE, packets: PACKETS, rounds: ROUNDS, summary }, null, 2));
}
