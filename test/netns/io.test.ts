// Real TUN devices and UDP sockets, inside a private network namespace.
//
// The test creates `mg-io-<pid>` with a loopback, a veth pair (both ends
// inside; mg-d0 holds documentation addresses (192.0.2.1/24, 2001:db8::1/64, fe80::1/64) and TUN
// devices on 10.99.x.0/24. Devices and sockets are opened from this process
// with inNetns() (setns on this thread only, switched back at once); `ping`
// runs inside the namespace via `ip netns exec`. Everything is closed and the
// namespace deleted in afterAll, on SIGINT/SIGTERM and at exit. Nothing
// touches the host's interfaces, routes or firewall, and no packet leaves the
// namespace.

import { execa, execaSync, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseEndpoint } from '../../shared/io/endpoint.js';
import {
  ifindex,
  inNetns,
  loadNative,
  nativeAvailable,
  packageRoot,
  UDP_OPEN_GRO,
  UDP_OPEN_GSO,
  UDP_OPEN_TEST_NO_CHECK,
} from '../../shared/io/native.js';
import { openTun, type LinuxTun } from '../../shared/io/tun.js';
import { openUdp, type LinuxUdp } from '../../shared/io/udp.js';
import type { Endpoint, UdpBind } from '../../shared/io/types.js';
import { FakeTun } from '../../shared/io/fakes.js';
import type { IoError } from '../../shared/io/io-error.js';
import { MultiUdp } from '../../shared/io/multi-udp.js';
import { TunnelRunner } from '../../shared/runner/runner.js';
import { formatIp, parseCidr } from '../../shared/net/address.js';
import { publicKeyOf } from '../../shared/wireguard/crypto.js';
import { Device } from '../../shared/wireguard/device.js';
import { randomBytes } from 'node:crypto';
import { ipv4Packet } from '../support/two-peers.js';

const NS = `mg-io-${process.pid}`;
const isRoot = process.getuid?.() === 0;
const canRun = isRoot && process.platform === 'linux' && nativeAvailable();

const toClose: { close(): void }[] = [];
const children: ResultPromise[] = [];
let nsCreated = false;

function ip(...args: string[]): void {
  execaSync('ip', args);
}
function nsIp(...args: string[]): void {
  execaSync('ip', ['-n', NS, ...args]);
}

function cleanup(): void {
  for (const c of toClose.splice(0)) {
    try {
      c.close();
    } catch {
      // keep going: the namespace must go
    }
  }
  for (const child of children.splice(0)) child.kill('SIGKILL');
  if (nsCreated) {
    execaSync('ip', ['netns', 'del', NS], { reject: false });
    nsCreated = false;
  }
}

// Clean up, then die of the signal as if we had not caught it (vitest's
// workers must not call process.exit).
function onSignal(sig: NodeJS.Signals): void {
  cleanup();
  process.kill(process.pid, sig);
}

function tracked<T extends { close(): void }>(x: T): T {
  toClose.push(x);
  return x;
}

function inNs<T>(fn: () => T): T {
  return inNetns(NS, fn);
}

const nsIfindex = (name: string): number | undefined => inNs(() => ifindex(name)) || undefined;

async function waitFor(cond: () => boolean, what: string, ms = 5000, diag?: () => unknown): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until)
      throw new Error(`timed out waiting for ${what}${diag ? `: ${JSON.stringify(diag())}` : ''}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function inetChecksum(b: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) sum += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const ICMP_ECHO_REQUEST = 8;
const ICMP_ECHO_REPLY = 0;

interface EchoRequest {
  src: string;
  dst: string;
  len: number;
}

/** If `p` is an IPv4 ICMP echo request, returns the matching echo reply. */
function echoReply(p: Uint8Array): Uint8Array | undefined {
  if (p.length < 28 || p[0]! >> 4 !== 4 || p[9] !== 1) return undefined;
  const ihl = (p[0]! & 0x0f) * 4;
  if (p[ihl] !== ICMP_ECHO_REQUEST) return undefined;
  const r = p.slice();
  r.set(p.subarray(16, 20), 12); // swapping the addresses keeps the IP checksum valid
  r.set(p.subarray(12, 16), 16);
  r[ihl] = ICMP_ECHO_REPLY;
  r[ihl + 2] = 0;
  r[ihl + 3] = 0;
  const c = inetChecksum(r, ihl, r.length);
  r[ihl + 2] = c >> 8;
  r[ihl + 3] = c & 0xff;
  return r;
}

/** A TUN handler answering pings and recording requests (copied) and batch sizes. */
function pingResponder(tun: LinuxTun) {
  const state = { requests: [] as EchoRequest[], batches: [] as number[], other: 0 };
  let inBatch = 0;
  tun.start({
    packet(data) {
      inBatch++;
      const reply = echoReply(data);
      if (!reply) {
        state.other++;
        return;
      }
      state.requests.push({
        src: formatIp(data.subarray(12, 16)),
        dst: formatIp(data.subarray(16, 20)),
        len: data.length,
      });
      tun.write(reply);
    },
    batchEnd() {
      state.batches.push(inBatch);
      inBatch = 0;
      tun.flush();
    },
  });
  return state;
}

function nsPing(args: string[]): Promise<{ exitCode?: number; stdout: string }> {
  const child = execa('ip', ['netns', 'exec', NS, 'ping', '-n', ...args], { reject: false, timeout: 20_000 });
  children.push(child);
  return child.finally(() => children.splice(children.indexOf(child), 1));
}

interface Got {
  data: Uint8Array;
  from: Endpoint;
}

function collector(udp: LinuxUdp) {
  const state = { got: [] as Got[], batches: 0 };
  udp.start({
    datagram(data, from) {
      state.got.push({ data: data.slice(), from });
    },
    batchEnd() {
      state.batches++;
    },
  });
  return state;
}

/** A datagram of `len` bytes that tells its sequence number (first 4 bytes) and carries a pattern. */
function numbered(seq: number, len: number): Uint8Array {
  const d = new Uint8Array(len);
  for (let i = 0; i < len; i++) d[i] = (seq * 7 + i) & 0xff;
  if (len >= 4) new DataView(d.buffer).setUint32(0, seq);
  return d;
}

/** Checks that `got` is exactly the numbered datagrams `want` ([seq, len] pairs), in order. */
function expectNumbered(got: Got[], want: [number, number][]): void {
  const seqOf = (d: Uint8Array): number => (d.length >= 4 ? new DataView(d.buffer, d.byteOffset).getUint32(0) : -1);
  expect(got.map((g) => [seqOf(g.data), g.data.length])).toEqual(want.map(([seq, len]) => [len >= 4 ? seq : -1, len]));
  for (const [i, g] of got.entries()) expect(g.data).toEqual(numbered(want[i]![0], want[i]![1]));
}

/** Waits until `rx` has as many datagrams as `want`, then checks they are exactly those and `tx` had no send errors. */
async function expectDelivered(
  got: ReturnType<typeof collector>,
  want: [number, number][],
  tx: LinuxUdp,
  rx: LinuxUdp,
): Promise<void> {
  await waitFor(
    () => got.got.length >= want.length,
    `${want.length} datagrams`,
    5000,
    () => [got.got.length, rx.stats(), tx.stats()],
  );
  expect(tx.sendErrors).toBe(0);
  expectNumbered(got.got, want);
}

describe.skipIf(!canRun)('native TUN and UDP in a network namespace', () => {
  beforeAll(() => {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('exit', cleanup);
    execaSync('ip', ['netns', 'del', NS], { reject: false }); // a leftover of this very pid
    ip('netns', 'add', NS);
    nsCreated = true;
    nsIp('link', 'set', 'lo', 'up');
    nsIp('link', 'add', 'mg-d0', 'type', 'veth', 'peer', 'name', 'mg-d1');
    nsIp('link', 'set', 'mg-d1', 'up');
    nsIp('addr', 'add', '192.0.2.1/24', 'dev', 'mg-d0');
    nsIp('addr', 'add', '2001:db8::1/64', 'dev', 'mg-d0', 'nodad');
    nsIp('addr', 'add', 'fe80::1/64', 'dev', 'mg-d0', 'nodad');
    nsIp('link', 'set', 'mg-d0', 'up');
  });

  afterAll(() => {
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', cleanup);
  });

  it('TUN: ping requests reach the handler, crafted replies make ping succeed', async () => {
    const tun = tracked(inNs(() => openTun('mg-tun0')));
    expect(tun.name).toBe('mg-tun0');
    expect(nsIfindex('mg-tun0')).toBeGreaterThan(0);
    expect(ifindex('mg-tun0')).toBe(0); // not in the host's namespace
    nsIp('addr', 'add', '10.99.0.1/24', 'dev', 'mg-tun0');
    nsIp('link', 'set', 'mg-tun0', 'up');
    const seen = pingResponder(tun);

    const r = await nsPing(['-c', '5', '-i', '0.2', '-W', '2', '10.99.0.2']);
    expect([r.stdout, tun.stats(), seen]).toEqual([
      expect.stringMatching(/5 packets transmitted, 5 received/),
      expect.anything(),
      expect.anything(),
    ]);
    expect(r.exitCode).toBe(0);
    expect(seen.requests).toHaveLength(5);
    expect(seen.requests[0]).toEqual({ src: '10.99.0.1', dst: '10.99.0.2', len: 84 });
    expect(tun.writeErrors).toBe(0);
    const s = tun.stats();
    expect(s.txPackets).toBe(5);
    expect(s.rxPackets).toBe(seen.requests.length + seen.other);
    expect(s.fatalError).toBe('');
  });

  it('TUN: a flood arrives in batches; packets larger than a slot are dropped and counted', async () => {
    const tun = tracked(inNs(() => openTun('mg-tun1', { slots: 16, slotSize: 600 })));
    nsIp('addr', 'add', '10.99.1.1/24', 'dev', 'mg-tun1');
    nsIp('link', 'set', 'mg-tun1', 'up');
    const seen = pingResponder(tun);

    const big = await nsPing(['-c', '2', '-i', '0.2', '-W', '1', '-s', '1000', '10.99.1.2']);
    expect(big.exitCode).not.toBe(0);
    await waitFor(
      () => tun.stats().rxDropped >= 2,
      'dropped oversize packets',
      5000,
      () => [tun.stats(), seen],
    );
    expect(seen.requests).toHaveLength(0);

    // 556 bytes of payload make 584-byte packets: they fit a 600-byte slot.
    const flood = await nsPing(['-f', '-c', '2000', '-s', '556', '-W', '1', '10.99.1.2']);
    expect(flood.stdout).toMatch(/2000 packets transmitted, 2000 received/);
    expect(seen.requests.every((q) => q.len === 584)).toBe(true);
    expect(Math.max(...seen.batches)).toBeLessThanOrEqual(16);
    expect(tun.stats().rxDropped).toBe(2);
  });

  it('TUN: attaches to a persistent device; reports a deleted device once to handler.fatal', async () => {
    nsIp('tuntap', 'add', 'dev', 'mg-tunp', 'mode', 'tun');
    const tun = tracked(inNs(() => openTun('mg-tunp')));
    expect(tun.name).toBe('mg-tunp');
    const fatal: IoError[] = [];
    try {
      tun.start({ packet: () => {}, batchEnd: () => {}, fatal: (e) => fatal.push(e) });
      nsIp('link', 'del', 'mg-tunp');
      await waitFor(() => fatal.length > 0, 'the read error', 3000);
      expect(tun.readError).toBe('EBADFD');
      await new Promise((r) => setTimeout(r, 50));
      expect(fatal.map((e) => [e.code, e.errno, e.message])).toEqual([
        ['tun-read', 'EBADFD', 'tun mg-tunp: reading stopped: EBADFD'],
      ]);
      tun.write(new Uint8Array(40));
      tun.flush();
      expect(tun.writeErrors).toBe(1);
    } finally {
      tun.close();
    }
  });

  it('TUN: close() removes a non-persistent device and is idempotent', () => {
    const tun = inNs(() => openTun('mg-tunc'));
    expect(nsIfindex('mg-tunc')).toBeGreaterThan(0);
    tun.close();
    tun.close();
    expect(nsIfindex('mg-tunc')).toBeUndefined();
    tun.write(new Uint8Array(20));
    expect(tun.writeErrors).toBe(1);
  });

  it('UDP: IPv4 and IPv6 batches reach a dual-stack socket with the right sources', async () => {
    const rx = tracked(inNs(() => openUdp({ port: 0 })));
    expect(rx.family).toBe(6);
    expect(rx.port).toBeGreaterThan(0);
    const s4 = tracked(inNs(() => openUdp({ port: 0, address: '192.0.2.1' })));
    const s6 = tracked(inNs(() => openUdp({ port: 0, address: '2001:db8::1' })));
    expect(s4.family).toBe(4);
    const got = collector(rx);

    const to4 = parseEndpoint(`127.0.0.1:${rx.port}`);
    const to6 = parseEndpoint(`[2001:db8::1]:${rx.port}`);
    const N = 300;
    for (let i = 0; i < N; i++) {
      const d = new Uint8Array(100 + (i % 50)).fill(i & 0xff);
      s4.send(d, i % 2 ? to4 : parseEndpoint(`192.0.2.1:${rx.port}`));
      s6.send(d, to6);
    }
    s4.flush();
    s6.flush();
    await waitFor(
      () => got.got.length >= 2 * N,
      `${2 * N} datagrams`,
      5000,
      () => [got.got.length, rx.stats(), s4.stats(), s6.stats()],
    );
    expect(s4.sendErrors + s6.sendErrors).toBe(0);

    const from4 = got.got.filter((g) => g.from.key.startsWith('1'));
    const from6 = got.got.filter((g) => g.from.key.startsWith('['));
    expect(from6.map((g) => g.from.key)).toEqual(Array(N).fill(`[2001:db8::1]:${s6.port}`));
    expect(new Set(from4.map((g) => g.from.key))).toEqual(new Set([`192.0.2.1:${s4.port}`]));
    expect(from4.map((g) => g.data.length)).toEqual(Array.from({ length: N }, (_, i) => 100 + (i % 50)));
    expect(from6.every((g, i) => g.data.every((b) => b === (i & 0xff)))).toBe(true);
    // one cached Endpoint object per peer: a steady flow creates none
    expect(new Set(from6.map((g) => g.from)).size).toBe(1);
    expect(got.batches).toBeLessThan(2 * N);
    const st = rx.stats();
    expect(st.rxPackets).toBe(2 * N);
    expect(st.rxBatches).toBe(got.batches);
  });

  it('UDP: loopback over ::1 and 127.0.0.1 both ways, replying to the source endpoint', async () => {
    const a = tracked(inNs(() => openUdp({ port: 0, address: '::1' })));
    const b = tracked(inNs(() => openUdp({ port: 0 })));
    const ga = collector(a);
    const gb: Got[] = [];
    b.start({
      datagram(data, from) {
        gb.push({ data: data.slice(), from });
        b.send(data, from); // echo
      },
      batchEnd: () => b.flush(),
    });
    for (let i = 0; i < 10; i++) a.send(Uint8Array.of(i), parseEndpoint(`[::1]:${b.port}`));
    a.flush();
    await waitFor(
      () => ga.got.length === 10,
      'echoes',
      5000,
      () => [ga.got.length, gb.length, a.stats(), b.stats()],
    );
    expect(gb[0]!.from.key).toBe(`[::1]:${a.port}`);
    expect(ga.got.map((g) => g.data[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ga.got[0]!.from.key).toBe(`[::1]:${b.port}`);

    const c = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.1' })));
    const gc = collector(c);
    c.send(Uint8Array.of(42), parseEndpoint(`127.0.0.1:${b.port}`));
    c.flush();
    await waitFor(() => gc.got.length === 1, 'the IPv4 echo');
    expect(gb.at(-1)!.from.key).toBe(`127.0.0.1:${c.port}`); // v4-mapped on the dual-stack socket
    expect(gc.got[0]!.from.key).toBe(`127.0.0.1:${b.port}`);
  });

  it('UDP: link-local with a scope id, resolved by interface name', async () => {
    const idx = nsIfindex('mg-d0')!;
    const ll = tracked(inNs(() => openUdp({ port: 0, address: 'fe80::1%mg-d0' })));
    const any = tracked(inNs(() => openUdp({ port: 0 })));
    const gl = collector(ll);
    const ga = collector(any);
    any.send(Uint8Array.of(1), parseEndpoint(`[fe80::1%mg-d0]:${ll.port}`, { ifindex: nsIfindex }));
    any.flush();
    await waitFor(() => gl.got.length === 1, 'the link-local datagram');
    const from = gl.got[0]!.from;
    expect(from.scopeId).toBe(idx);
    expect(from.key).toBe(`[fe80::1%${idx}]:${any.port}`);
    ll.send(Uint8Array.of(2), from);
    ll.flush();
    await waitFor(() => ga.got.length === 1, 'the reply');
    expect(ga.got[0]!.from.key).toBe(`[fe80::1%${idx}]:${ll.port}`);
  });

  it('UDP: unreachable destinations and oversize datagrams are counted, never thrown', async () => {
    const s = tracked(inNs(() => openUdp({ port: 0 })));
    const s4 = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.1' })));
    const small = tracked(inNs(() => openUdp({ port: 0, slotSize: 512 })));
    const g = collector(small);

    s.send(Uint8Array.of(1), parseEndpoint('203.0.113.5:9')); // no route in the namespace
    s.send(Uint8Array.of(2), parseEndpoint('[2001:db8:ffff::5]:9'));
    s.send(Uint8Array.of(3), parseEndpoint('192.0.2.255:9')); // broadcast without SO_BROADCAST
    s.send(Uint8Array.of(4), parseEndpoint(`[::1]:${small.port}`)); // fine, in the same batch
    s.flush();
    expect(s.sendErrors).toBe(3);
    expect(s.stats().txPackets).toBe(1);
    expect(s.stats().lastError).not.toBe('');

    s4.send(Uint8Array.of(5), parseEndpoint(`[::1]:${small.port}`)); // IPv6 on an IPv4 socket
    s4.flush();
    expect(s4.sendErrors).toBe(1);

    s.send(new Uint8Array(1000).fill(7), parseEndpoint(`[::1]:${small.port}`)); // > its slot: dropped there
    s.send(new Uint8Array(4000).fill(8), parseEndpoint(`[::1]:${small.port}`)); // > our slot: sent alone
    s.send(new Uint8Array(70000), parseEndpoint(`[::1]:${small.port}`)); // > any UDP payload
    s.send(Uint8Array.of(6), parseEndpoint(`[::1]:${small.port}`));
    s.flush();
    expect(s.sendErrors).toBe(4);
    await waitFor(() => g.got.length === 2 && small.stats().rxDropped === 2, 'the small ones');
    expect(g.got.map((x) => x.data[0])).toEqual([4, 6]);
  });

  it('UDP: port 0 picks a free port; a taken port throws EADDRINUSE', () => {
    const a = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.1' })));
    expect(() => inNs(() => openUdp({ port: a.port, address: '127.0.0.1' }))).toThrow(
      expect.objectContaining({ code: 'EADDRINUSE' }) as Error,
    );
    expect(() => inNs(() => openUdp({ port: 0, address: '198.51.100.200' }))).toThrow(/EADDRNOTAVAIL/);
    const native = loadNative();
    expect(() => native.start(a as never, new Uint8Array(1), new Int32Array(1), null, 1, 1, () => {})).toThrow(
      TypeError,
    );
  });

  it('UDP: bad batch arguments from JS are rejected, never read out of bounds', () => {
    const native = loadNative();
    const { handle } = inNs(() =>
      native.udpOpen(4, Uint8Array.from([...Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1, ...Array(8).fill(0)]), 0, 0),
    );
    try {
      const buf = new Uint8Array(100);
      const addrs = new Uint8Array(48);
      expect(() => native.udpSend(handle, buf, Int32Array.of(60, 60), addrs, 2, 50)).toThrow(RangeError); // len > slot
      expect(() => native.udpSend(handle, buf, Int32Array.of(50, 50, 1), addrs, 3, 50)).toThrow(RangeError); // 3 records > 48 bytes
      expect(() => native.udpSend(handle, buf, Int32Array.of(50, 60), addrs, 2, 60)).toThrow(RangeError); // slot 1 ends at 120
      expect(() => native.udpSend(handle, buf, Int32Array.of(1), addrs, 2, 50)).toThrow(RangeError); // count > lens
      expect(() => native.udpSend(handle, buf, Int32Array.of(-1), addrs, 1, 50)).toThrow(RangeError);
      expect(() => native.tunWrite(handle, buf, Int32Array.of(1), 1, 50)).toThrow(TypeError); // not a TUN
      expect(() => native.start(handle, buf, new Int32Array(4), addrs, 4, 50, () => {})).toThrow(RangeError); // 4*50 > 100
      expect(() => native.start(handle, new Uint8Array(200), new Int32Array(4), addrs, 4, 50, () => {})).toThrow(
        RangeError,
      ); // addrs
      expect(() => native.close({} as never)).toThrow(TypeError);
    } finally {
      native.close(handle);
    }
  });

  it('UDP GSO/GRO: equal-size runs to one destination go out coalesced and arrive complete, in order', async () => {
    const tx = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.1', slots: 256, gso: true })));
    const rx = tracked(inNs(() => openUdp({ port: 0, slots: 64, gro: true })));
    expect(tx.stats().gso).toBe(true);
    expect(rx.stats().gro).toBe(true);
    const got = collector(rx);
    const to = parseEndpoint(`127.0.0.1:${rx.port}`);
    // 64 WireGuard-sized datagrams, then 100 of 1000 bytes and a shorter last one:
    // 64 fit one entry in bytes (45 * 1452 <= 65507) ... so entries of 45 + 19, then 64 + 36 + the tail
    const want: [number, number][] = [];
    for (let i = 0; i < 64; i++) want.push([i, 1452]);
    for (let i = 64; i < 164; i++) want.push([i, 1000]);
    want.push([164, 300]);
    for (const [seq, len] of want) tx.send(numbered(seq, len), to);
    tx.flush();
    await expectDelivered(got, want, tx, rx);
    expect(new Set(got.got.map((g) => g.from.key))).toEqual(new Set([`127.0.0.1:${tx.port}`]));
    const ts = tx.stats();
    // 1452-byte run: 45 + 19; 1000-byte run of 101 (100 + the 300-byte tail): 64 + 37
    expect([ts.gsoSends, ts.gsoSegments, ts.gsoRefused, ts.txPackets]).toEqual([4, 165, 0, 165]);
    const rs = rx.stats();
    // over loopback the super-datagrams arrive whole: GRO hands them over and the addon splits them
    expect(rs.groReceives).toBeGreaterThan(0);
    expect(rs.groSegments).toBeLessThanOrEqual(165);
    expect([rs.rxPackets, rs.rxDropped]).toEqual([165, 0]);
    // one JS batch never holds more than `slots` datagrams
    expect(rs.rxBatches).toBeGreaterThanOrEqual(3);
  });

  it('UDP GSO/GRO: mixed sizes and interleaved destinations keep their order per destination', async () => {
    const tx = tracked(inNs(() => openUdp({ port: 0, slots: 128, gso: true })));
    const a = tracked(inNs(() => openUdp({ port: 0, address: '::1', gro: true })));
    const b = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.1', gro: true })));
    const ga = collector(a);
    const gb = collector(b);
    const toA = parseEndpoint(`[::1]:${a.port}`);
    const toB = parseEndpoint(`127.0.0.1:${b.port}`);
    // [destination, sizes]: runs of equal sizes (GSO), a shorter tail, growing sizes (no GSO),
    // single datagrams and empty ones, switching destination often
    const plan: [Endpoint, number[]][] = [
      [toA, [1200, 1200, 1200, 1200, 1200]],
      [toB, [1200, 1200, 1200]],
      [toA, [800, 800, 800, 800, 100]],
      [toB, [1, 1, 1, 1, 1, 1, 1]],
      [toA, [100, 200, 300, 400]],
      [toB, [1452]],
      [toA, [0, 0]],
      [toB, [900, 900, 901, 900]],
    ];
    const wantA: [number, number][] = [];
    const wantB: [number, number][] = [];
    let seq = 0;
    for (const [to, sizes] of plan)
      for (const len of sizes) {
        tx.send(numbered(seq, len), to);
        (to === toA ? wantA : wantB).push([seq, len]);
        seq++;
      }
    tx.flush();
    await waitFor(
      () => ga.got.length >= wantA.length && gb.got.length >= wantB.length,
      'all datagrams',
      5000,
      () => [ga.got.length, gb.got.length, a.stats(), b.stats(), tx.stats()],
    );
    expect(tx.sendErrors).toBe(0);
    expectNumbered(ga.got, wantA);
    expectNumbered(gb.got, wantB);
    // coalesced: 5 x 1200, 3 x 1200, 4 x 800 + 100, 7 x 1, 900 + 900, 901 + 900 (a shorter last one)
    const ts = tx.stats();
    expect([ts.gsoSends, ts.gsoSegments, ts.txPackets]).toEqual([6, 24, seq]);
    expect(a.stats().rxDropped + b.stats().rxDropped).toBe(0);
  });

  it('UDP GRO: super-datagrams are split over several small batches; what does not fit a slot is dropped and counted', async () => {
    const tx = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.1', slots: 512, gso: true })));
    const rx = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.1', slots: 8, slotSize: 1000, gro: true })));
    const got = collector(rx);
    const to = parseEndpoint(`127.0.0.1:${rx.port}`);
    // 300 datagrams of 500 bytes: super-datagrams of 64 segments, far more than one 8-slot batch
    const want: [number, number][] = [];
    for (let i = 0; i < 300; i++) want.push([i, 500]);
    for (const [s, len] of want) tx.send(numbered(s, len), to);
    // then 3 datagrams larger than the receiver's slot, coalesced: dropped one by one
    for (let i = 300; i < 303; i++) tx.send(numbered(i, 1200), to);
    tx.send(numbered(303, 20), to);
    want.push([303, 20]);
    tx.flush();
    await expectDelivered(got, want, tx, rx);
    const rs = rx.stats();
    expect(rs.rxDropped).toBe(3);
    expect(rs.groReceives).toBeGreaterThanOrEqual(5);
    expect(rs.rxBatches).toBeGreaterThanOrEqual(Math.ceil(want.length / 8));
    expect(tx.stats().gsoSends).toBeGreaterThanOrEqual(6);
  });

  it('UDP GSO without GRO on the receiver, and GRO without GSO on the sender, deliver the same datagrams', async () => {
    const gsoTx = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.1', gso: true })));
    const plainTx = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.1', gso: false })));
    const plainRx = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.1', gro: false })));
    const groRx = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.1', gro: true })));
    expect(plainRx.stats().gro).toBe(false);
    expect(plainTx.stats().gso).toBe(false);
    const gp = collector(plainRx);
    const gg = collector(groRx);
    const want: [number, number][] = [];
    for (let i = 0; i < 40; i++) want.push([i, i < 39 ? 1400 : 77]);
    for (const [s, len] of want) {
      gsoTx.send(numbered(s, len), parseEndpoint(`127.0.0.1:${plainRx.port}`));
      plainTx.send(numbered(s, len), parseEndpoint(`127.0.0.1:${groRx.port}`));
    }
    gsoTx.flush();
    plainTx.flush();
    await waitFor(
      () => gp.got.length >= 40 && gg.got.length >= 40,
      'both flows',
      5000,
      () => [gp.got.length, gg.got.length],
    );
    expectNumbered(gp.got, want);
    expectNumbered(gg.got, want);
    expect(gsoTx.stats().gsoSends).toBe(1); // the kernel split it for the socket without GRO
    expect(plainRx.stats().groReceives).toBe(0);
    expect(plainTx.stats().gsoSends).toBe(0);
    expect(groRx.stats().groReceives).toBe(0); // nothing to merge: loopback does not GRO
  });

  it('UDP GSO: a kernel refusal (EINVAL) resends the run one by one and switches GSO off for the socket', async () => {
    const native = loadNative();
    const rx = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.1' })));
    const got = collector(rx);
    const rec = Uint8Array.from([...Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1, ...Array(8).fill(0)]);
    // SO_NO_CHECK: the kernel refuses UDP_SEGMENT on this socket with EINVAL
    const opened = inNs(() => native.udpOpen(4, rec, 0, 0, UDP_OPEN_GSO | UDP_OPEN_TEST_NO_CHECK));
    const h = opened.handle;
    tracked({ close: () => native.close(h) });
    expect(opened.gso).toBe(true);
    const slot = 600;
    const send = (first: number, count: number): number => {
      const buf = new Uint8Array(count * slot);
      const lens = new Int32Array(count);
      const addrs = new Uint8Array(count * 24);
      for (let i = 0; i < count; i++) {
        buf.set(numbered(first + i, 500), i * slot);
        lens[i] = 500;
        addrs.set(rec, i * 24);
        addrs[i * 24 + 16] = rx.port >> 8;
        addrs[i * 24 + 17] = rx.port & 0xff;
      }
      return native.udpSend(h, buf, lens, addrs, count, slot);
    };
    expect(send(0, 10)).toBe(0);
    let s = native.stats(h);
    expect([s.gso, s.gsoFallback, s.gsoRefused, s.gsoSends, s.txPackets]).toEqual([false, 'EINVAL', 1, 0, 10]);
    expect(send(10, 10)).toBe(0); // plain sendmmsg from now on: no second refusal
    s = native.stats(h);
    expect([s.gsoRefused, s.gsoSends, s.txPackets]).toEqual([1, 0, 20]);
    await waitFor(
      () => got.got.length >= 20,
      '20 datagrams',
      5000,
      () => [got.got.length, rx.stats()],
    );
    expectNumbered(
      got.got,
      Array.from({ length: 20 }, (_, i): [number, number] => [i, 500]),
    );
  });

  it('UDP GSO: counters stay exact when a refusal rebuilds a batch that holds destinations of the wrong family', async () => {
    const native = loadNative();
    const rx4 = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.1' })));
    const rx6 = tracked(inNs(() => openUdp({ port: 0, address: '::1' })));
    const got4 = collector(rx4);
    const got6 = collector(rx6);
    const v4 = Uint8Array.from([...Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1, ...Array(8).fill(0)]);
    const v6 = Uint8Array.from([...Array(15).fill(0), 1, ...Array(8).fill(0)]);
    const slot = 600;
    const len = 500;
    /** Sends numbered datagrams first.. to the records in `to` (with the port of their receiver). */
    const send = (h: ReturnType<typeof native.udpOpen>['handle'], first: number, to: ('4' | '6')[]): number => {
      const n = to.length;
      const buf = new Uint8Array(n * slot);
      const lens = new Int32Array(n);
      const addrs = new Uint8Array(n * 24);
      to.forEach((f, i) => {
        buf.set(numbered(first + i, len), i * slot);
        lens[i] = len;
        const port = f === '4' ? rx4.port : rx6.port;
        addrs.set(f === '4' ? v4 : v6, i * 24);
        addrs[i * 24 + 16] = port >> 8;
        addrs[i * 24 + 17] = port & 0xff;
      });
      return native.udpSend(h, buf, lens, addrs, n, slot);
    };
    const open = (family: 4 | 6, flags: number) => {
      const { handle } = inNs(() => native.udpOpen(family, family === 4 ? v4 : v6.map(() => 0), 0, 0, flags));
      tracked({ close: () => native.close(handle) });
      return handle;
    };
    const counters = (h: ReturnType<typeof open>) => {
      const s = native.stats(h);
      return [s.txPackets, s.txErrors, s.gsoRefused, s.gsoSends, s.gsoSegments];
    };

    // An IPv4 socket whose GSO the kernel refuses: the run of three is resent one
    // by one, the three IPv6 destinations behind it are each one error, once.
    const refused = open(4, UDP_OPEN_GSO | UDP_OPEN_TEST_NO_CHECK);
    expect(send(refused, 0, ['4', '4', '4', '6', '6', '6', '4', '4'])).toBe(3);
    expect(counters(refused)).toEqual([5, 3, 1, 0, 0]);
    // More mismatched than sent (the old double count made txPackets wrap to 2^32 - 1).
    const refused2 = open(4, UDP_OPEN_GSO | UDP_OPEN_TEST_NO_CHECK);
    expect(send(refused2, 100, ['4', '4', '6', '6', '6'])).toBe(3);
    expect(counters(refused2)).toEqual([2, 3, 1, 0, 0]);

    // A working GSO socket: the wrong-family datagram in the middle splits the run.
    const plain = open(4, UDP_OPEN_GSO);
    expect(send(plain, 200, ['4', '4', '6', '4', '4'])).toBe(1);
    expect(counters(plain)).toEqual([4, 1, 0, 2, 4]);

    // A dual-stack socket reaches both families; the refusal resends the IPv4 run, GSO off for the rest.
    const dual = open(6, UDP_OPEN_GSO | UDP_OPEN_TEST_NO_CHECK);
    expect(send(dual, 300, ['4', '4', '4', '6', '6', '6'])).toBe(0);
    expect(counters(dual)).toEqual([6, 0, 1, 0, 0]);

    await waitFor(
      () => got4.got.length >= 14 && got6.got.length >= 3,
      'all datagrams',
      5000,
      () => [got4.got.length, got6.got.length],
    );
    const seqs = (g: Got[]) => g.map((x) => new DataView(x.data.buffer, x.data.byteOffset).getUint32(0));
    expect(seqs(got4.got).sort((a, b) => a - b)).toEqual([0, 1, 2, 6, 7, 100, 101, 200, 201, 203, 204, 300, 301, 302]);
    expect(seqs(got6.got)).toEqual([303, 304, 305]);
  });

  it('UDP GSO: a segment larger than the path MTU (EMSGSIZE) goes out one by one, GSO stays on for smaller ones', async () => {
    // a local address whose route has MTU 1000: 1200-byte datagrams need IP fragments
    nsIp('addr', 'add', '10.98.0.1/32', 'dev', 'lo');
    nsIp(
      'route',
      'replace',
      'local',
      '10.98.0.1',
      'dev',
      'lo',
      'table',
      'local',
      'proto',
      'kernel',
      'scope',
      'host',
      'src',
      '10.98.0.1',
      'mtu',
      '1000',
    );
    const tx = tracked(inNs(() => openUdp({ port: 0, gso: true })));
    const rx = tracked(inNs(() => openUdp({ port: 0, address: '10.98.0.1', gro: true })));
    const got = collector(rx);
    const to = parseEndpoint(`10.98.0.1:${rx.port}`);
    const want: [number, number][] = [];
    for (let i = 0; i < 6; i++) want.push([i, 1200]);
    for (let i = 6; i < 12; i++) want.push([i, 900]);
    for (const [s, len] of want) tx.send(numbered(s, len), to);
    tx.flush();
    for (let i = 12; i < 18; i++) {
      // the next batch: 1200 is no longer tried with GSO
      want.push([i, 1200]);
      tx.send(numbered(i, 1200), to);
    }
    tx.flush();
    await expectDelivered(got, want, tx, rx);
    const ts = tx.stats();
    expect([ts.gso, ts.gsoFallback, ts.gsoRefused, ts.gsoSends, ts.gsoSegments]).toEqual([true, '', 1, 1, 6]);
  });

  it('MultiUdp: a peer is answered on the socket its authenticated packets came in on, whatever arrives with its address on another', async () => {
    // A gateway listening on 127.0.0.1 and 127.0.0.2 (same port), a client on 127.0.0.3.
    const random = (n: number): Uint8Array => randomBytes(n);
    const gwKey = random(32);
    const clKey = random(32);
    const a = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.1' })));
    const b = tracked(inNs(() => openUdp({ port: a.port, address: '127.0.0.2' })));
    const cl = tracked(inNs(() => openUdp({ port: 0, address: '127.0.0.3' })));
    const gw = new Device({ privateKey: gwKey, random });
    gw.addPeer({ publicKey: publicKeyOf(clKey), allowedIps: [parseCidr('10.0.0.2/32')] });
    const client = new Device({ privateKey: clKey, random });
    client.addPeer({
      publicKey: publicKeyOf(gwKey),
      allowedIps: [parseCidr('10.0.0.1/32')],
      endpoint: parseEndpoint(`127.0.0.1:${a.port}`),
    });
    // Everything the client sends is kept, for an attacker to replay.
    const clientSent: Uint8Array[] = [];
    const recording: UdpBind = {
      port: cl.port,
      start: (h) => cl.start(h),
      send: (data, to) => {
        clientSent.push(data.slice());
        cl.send(data, to);
      },
      flush: () => cl.flush(),
      close: () => cl.close(),
      get sendErrors() {
        return cl.sendErrors;
      },
    };
    const gwTun = new FakeTun('gw');
    const clTun = new FakeTun('cl');
    const gwRunner = new TunnelRunner(gw, gwTun, new MultiUdp([a, b]));
    const clRunner = new TunnelRunner(client, clTun, recording);
    tracked({ close: () => gwRunner.stop() });
    tracked({ close: () => clRunner.stop() });
    gwRunner.start();
    clRunner.start();

    const toGw = ipv4Packet('10.0.0.2', '10.0.0.1', 100);
    clTun.inject(toGw);
    await waitFor(() => gwTun.written.length >= 1, 'the first packet through the tunnel');

    // Forged: junk, and replays of all the client sent, with the client's own
    // address (its socket) to the gateway's other address.
    const other = parseEndpoint(`127.0.0.2:${a.port}`);
    const junk = [Uint8Array.of(4, 0, 0, 0, ...random(60)), Uint8Array.of(1, ...random(147)), random(40)];
    for (const d of [...junk, ...clientSent]) cl.send(d, other);
    cl.flush();
    await waitFor(() => b.stats().rxPackets >= junk.length + clientSent.length, 'the forged datagrams');

    for (let i = 0; i < 5; i++) gwTun.inject(ipv4Packet('10.0.0.1', '10.0.0.2', 100));
    await waitFor(() => clTun.written.length >= 5, 'packets back to the client');
    expect(b.stats().txPackets, 'sent from the forged-on socket').toBe(0);
    expect(client.peer(publicKeyOf(gwKey))!.endpoint!.key).toBe(`127.0.0.1:${a.port}`);

    // The client itself moving to the other address is followed (after authentication).
    client.peer(publicKeyOf(gwKey))!.endpoint = other;
    clTun.inject(ipv4Packet('10.0.0.2', '10.0.0.1', 100));
    await waitFor(() => gwTun.written.length >= 2, 'a packet via the other address');
    gwTun.inject(ipv4Packet('10.0.0.1', '10.0.0.2', 100));
    await waitFor(() => clTun.written.length >= 6, 'the answer');
    expect(b.stats().txPackets).toBe(1);
    expect(client.peer(publicKeyOf(gwKey))!.endpoint!.key).toBe(`127.0.0.2:${a.port}`);
  });

  it('UDP: MESHGATE_UDP_GSO=0 / MESHGATE_UDP_GRO=0 switch the offloads off (read when udp.ts loads)', async () => {
    vi.stubEnv('MESHGATE_UDP_GSO', '0');
    vi.stubEnv('MESHGATE_UDP_GRO', '0');
    vi.resetModules();
    try {
      const fresh = await import('../../shared/io/udp.js');
      expect([fresh.UDP_GSO_DEFAULT, fresh.UDP_GRO_DEFAULT]).toEqual([false, false]);
      const tx = tracked(inNs(() => fresh.openUdp({ port: 0, address: '127.0.0.1' })));
      const rx = tracked(inNs(() => fresh.openUdp({ port: 0, address: '127.0.0.1' })));
      expect([tx.stats().gso, rx.stats().gro]).toEqual([false, false]);
      const got = collector(rx);
      const want = Array.from({ length: 30 }, (_, i): [number, number] => [i, 1000]);
      for (const [s, len] of want) tx.send(numbered(s, len), parseEndpoint(`127.0.0.1:${rx.port}`));
      tx.flush();
      await waitFor(
        () => got.got.length >= 30,
        '30 datagrams',
        5000,
        () => [got.got.length, rx.stats()],
      );
      expectNumbered(got.got, want);
      expect([tx.stats().gsoSends, rx.stats().groReceives]).toEqual([0, 0]);
      // an explicit option still wins over the environment
      const on = tracked(inNs(() => fresh.openUdp({ port: 0, address: '127.0.0.1', gso: true, gro: true })));
      expect([on.stats().gso, on.stats().gro]).toEqual([true, true]);
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });

  it('UDP: udpOpen rejects unknown flags', () => {
    const native = loadNative();
    const rec = Uint8Array.from([...Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1, ...Array(8).fill(0)]);
    expect(() => inNs(() => native.udpOpen(4, rec, 0, 0, 0x8000))).toThrow(RangeError);
    const { handle, gso, gro } = inNs(() => native.udpOpen(4, rec, 0, 0, UDP_OPEN_GSO | UDP_OPEN_GRO));
    native.close(handle);
    expect([gso, gro]).toEqual([true, true]);
  });

  it('worker_threads: the addon works in a worker, and what the worker leaves open is closed at its exit', async () => {
    const addon = `${packageRoot()}/build/Release/meshgate_io.node`;
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const m = require(workerData.addon);
      const rec = new Uint8Array(24); rec[10] = 0xff; rec[11] = 0xff; rec[12] = 127; rec[15] = 1;
      const [a, b] = m.inNetns(workerData.ns, () => [m.udpOpen(4, rec, 0, 0), m.udpOpen(4, rec, 0, 0)]);
      const buf = new Uint8Array(4 * 64), lens = new Int32Array(4), addrs = new Uint8Array(4 * 24);
      m.start(a.handle, buf, lens, addrs, 4, 64, (n) => {
        parentPort.postMessage({ n, len: lens[0], fromPort: (addrs[16] << 8) | addrs[17], bPort: b.port });
        // a and b stay open: the environment cleanup hook must close them when the worker ends
        process.exit(0);
      });
      const to = rec.slice(); to[16] = a.port >> 8; to[17] = a.port & 255;
      m.udpSend(b.handle, Uint8Array.of(1, 2, 3), Int32Array.of(3), to, 1, 3);
    `;
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(code, { eval: true, workerData: { addon, ns: `/run/netns/${NS}` } });
    const msg = await new Promise<{ n: number; len: number; fromPort: number; bPort: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    expect(msg.n).toBe(1);
    expect(msg.len).toBe(3);
    expect(msg.fromPort).toBe(msg.bPort);
    const exitCode = await new Promise((r) => w.once('exit', r));
    expect(exitCode).toBe(0);
    // the worker's sockets are gone: their ports can be bound again
    const again = tracked(inNs(() => openUdp({ port: msg.bPort, address: '127.0.0.1' })));
    expect(again.port).toBe(msg.bPort);
  });

  it('lifetime: an open socket keeps the process alive, close() lets it exit', async () => {
    const addon = `${packageRoot()}/build/Release/meshgate_io.node`;
    const script = (closeIt: boolean): string => `
      const m = require(${JSON.stringify(addon)});
      const rec = new Uint8Array(24); rec[10] = 0xff; rec[11] = 0xff; rec[12] = 127; rec[15] = 1;
      const { handle } = m.udpOpen(4, rec, 0, 0);
      m.start(handle, new Uint8Array(64), new Int32Array(1), new Uint8Array(24), 1, 64, () => {});
      ${closeIt ? 'setTimeout(() => { m.close(handle); m.close(handle); }, 50);' : ''}
    `;
    const run = (closeIt: boolean): ResultPromise => {
      const child = execa('ip', ['netns', 'exec', NS, process.execPath, '-e', script(closeIt)], {
        reject: false,
        timeout: 10_000,
      });
      children.push(child);
      return child;
    };
    const t0 = Date.now();
    const closed = await run(true);
    expect(closed.exitCode).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);

    const open = run(false);
    const early = await Promise.race([
      open.then(() => 'exited'),
      new Promise((r) => setTimeout(() => r('running'), 1500)),
    ]);
    expect(early).toBe('running');
    open.kill('SIGKILL');
    await open;
  });
});
