// Self-checks of the namespace harness: keys, the pcap reader, the transfer tool's
// verdicts, a wireguard-go ↔ wireguard-go tunnel over both underlay families (which
// exercises every helper the interop tests use), teardown and stale-namespace cleanup.

import { execa } from 'execa';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  PAIR,
  Scene,
  XFER_TOOL,
  genKeyPair,
  netnsSkip,
  parsePcap,
  ping,
  publicKeyOf,
  removeStaleNamespaces,
  type WireguardGoPeer,
  teardownScenesAfterEach,
} from './harness.js';

const skipReason = netnsSkip('namespace tests', { commands: ['ip', 'wireguard-go', 'wg', 'tcpdump'], ping: true });
const MB = 1024 * 1024;

teardownScenesAfterEach();

async function namespaceExists(name: string): Promise<boolean> {
  const list = (await execa('ip', ['netns', 'list'])).stdout;
  return list.split('\n').some((l) => l.split(' ')[0] === name);
}

describe('pure helpers', () => {
  test('parsePcap reads Ethernet IPv4/UDP and VLAN IPv6/UDP, skips the rest', () => {
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(65535, 16);
    header.writeUInt32LE(1, 20);
    const record = (frame: Buffer, sec: number) => {
      const h = Buffer.alloc(16);
      h.writeUInt32LE(sec, 0);
      h.writeUInt32LE(500_000, 4);
      h.writeUInt32LE(frame.length, 8);
      h.writeUInt32LE(frame.length, 12);
      return Buffer.concat([h, frame]);
    };
    const payload = Buffer.from('0100000011223344', 'hex');
    const eth = (type: number) => {
      const e = Buffer.alloc(14);
      e.writeUInt16BE(type, 12);
      return e;
    };
    const udp = (sport: number, dport: number) => {
      const u = Buffer.alloc(8);
      u.writeUInt16BE(sport, 0);
      u.writeUInt16BE(dport, 2);
      u.writeUInt16BE(8 + payload.length, 4);
      return u;
    };
    const ip4 = Buffer.alloc(20);
    ip4[0] = 0x45;
    ip4.writeUInt16BE(20 + 8 + payload.length, 2);
    ip4[9] = 17;
    Buffer.from([192, 0, 2, 1, 192, 0, 2, 2]).copy(ip4, 12);
    const tcp4 = Buffer.from(ip4);
    tcp4[9] = 6;
    const vlan = Buffer.concat([eth(0x8100).subarray(0, 12), Buffer.from([0x81, 0, 0, 7, 0x86, 0xdd])]);
    const ip6 = Buffer.alloc(40);
    ip6[0] = 0x60;
    ip6.writeUInt16BE(8 + payload.length, 4);
    ip6[6] = 17;
    Buffer.from('20010db8007700000000000000000001', 'hex').copy(ip6, 8);
    Buffer.from('fd000077000000000000000000000002', 'hex').copy(ip6, 24);
    const file = Buffer.concat([
      header,
      record(Buffer.concat([eth(0x0800), ip4, udp(51820, 51821), payload]), 100),
      record(Buffer.concat([eth(0x0800), tcp4, udp(1, 2), payload]), 101),
      record(Buffer.concat([vlan, ip6, udp(1000, 2000), payload]), 102),
    ]);
    const packets = parsePcap(file);
    expect(packets).toHaveLength(2);
    expect(packets[0]).toMatchObject({ family: 4, src: '192.0.2.1', dst: '192.0.2.2', srcPort: 51820, dstPort: 51821 });
    expect(packets[0]!.payload.equals(payload)).toBe(true);
    expect(packets[0]!.time).toBeCloseTo(100.5);
    expect(packets[1]).toMatchObject({
      family: 6,
      src: '2001:db8:77::1',
      dst: 'fd00:77::2',
      srcPort: 1000,
      dstPort: 2000,
    });
  });

  test.skipIf(!fs.existsSync('/usr/bin/wg'))('genKeyPair and publicKeyOf agree with wg pubkey', async () => {
    const k = genKeyPair();
    const fromWg = (await execa('wg', ['pubkey'], { input: k.privateKey })).stdout.trim();
    expect(k.publicKey).toBe(fromWg);
    const priv = (await execa('wg', ['genkey'])).stdout.trim();
    const pub = (await execa('wg', ['pubkey'], { input: priv })).stdout.trim();
    expect(publicKeyOf(priv)).toBe(pub);
  });
});

describe.skipIf(skipReason !== null)('namespaces', () => {
  test('xfer.mjs checks content: a good stream passes, a corrupted one fails', async () => {
    const scene = await Scene.create('xfer');
    const ns = await scene.namespace('x');
    const server = await scene.xferServer(ns, 5201, '127.0.0.1');
    const good = await server.both(ns, '127.0.0.1', 3 * MB + 17, 'self');
    expect(good.map((r) => [r.ok, r.bytes])).toEqual([
      [true, 3 * MB + 17],
      [true, 3 * MB + 17],
    ]);
    // A server that answers "recv" with zeros: the client must report the first bad offset.
    const liar = ns.spawn('liar', 'node', [
      '-e',
      `require('net').createServer((s) => s.once('data', () => s.end(Buffer.alloc(4096)))).listen(5202, '127.0.0.1', () => console.log('up'))`,
    ]);
    await liar.waitFor(/up/, 5_000);
    const bad = await ns.exec('node', [XFER_TOOL, 'recv', '127.0.0.1', '5202', '4096', 'seed'], { check: false });
    expect(bad.exitCode).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, bytes: 4096 });
    const short = await ns.exec('node', [XFER_TOOL, 'recv', '127.0.0.1', '5202', '8192', 'seed'], { check: false });
    expect(short.exitCode).toBe(1);
  });

  for (const underlay of ['v4', 'v6'] as const) {
    test(`wireguard-go ↔ wireguard-go over ${underlay}: ping, 20 MB both ways, handshake seen on the wire`, async () => {
      const scene = await Scene.create(`wgwg-${underlay}`);
      const pair = await scene.tunnelPair({ a: 'wireguard-go', b: 'wireguard-go', underlay });
      const capture = await scene.capture(pair.nsA, pair.veth.a);
      // b sends first, so b initiates
      const p4 = await ping(pair.nsB, pair.inner4.a, { count: 3 });
      expect(p4.received, p4.output).toBe(3);
      const p6 = await ping(pair.nsA, pair.inner6.b, { count: 3 });
      expect(p6.received, p6.output).toBe(3);
      const a = pair.a as WireguardGoPeer;
      const b = pair.b as WireguardGoPeer;
      expect(b.sentInitiation()).toBe(true);
      expect(a.sentInitiation()).toBe(false);
      expect(a.receivedInitiation()).toBe(true);

      const server = await scene.xferServer(pair.nsA);
      const results = await server.both(pair.nsB, pair.inner4.a, 20 * MB, `wgwg-${underlay}`);
      for (const r of results) expect(r, JSON.stringify(r)).toMatchObject({ ok: true, bytes: 20 * MB });
      console.log(`wg-go↔wg-go ${underlay}: ${results.map((r) => `${r.mode} ${r.mbps.toFixed(0)} Mbit/s`).join(', ')}`);

      const packets = await capture.stop();
      const initiations = packets.filter((p) => p.payload[0] === 1 && p.payload.length === 148);
      expect(initiations.length).toBeGreaterThan(0);
      expect(initiations[0]).toMatchObject({ src: pair.underlay.b, dst: pair.underlay.a, dstPort: PAIR.port });
      expect(packets.some((p) => p.payload[0] === 4)).toBe(true);

      const info = await pair.a.show();
      expect(info.publicKey).toBe(pair.a.publicKey);
      expect(info.listenPort).toBe(PAIR.port);
      const peer = await pair.a.peer(pair.b.publicKey);
      expect(peer.latestHandshake).toBeGreaterThan(0);
      expect(peer.rxBytes).toBeGreaterThan(20 * MB);
      expect(peer.endpoint).toBe(
        underlay === 'v4' ? `${pair.underlay.b}:${PAIR.port}` : `[${pair.underlay.b}]:${PAIR.port}`,
      );

      // teardown removes namespaces, processes, sockets and markers
      const names = scene.namespaces.map((n) => n.name);
      const pids = scene.procs.map((p) => p.pid);
      await scene.teardown();
      for (const n of names) {
        expect(await namespaceExists(n)).toBe(false);
        expect(fs.existsSync(`/run/meshgate-test/${n}`)).toBe(false);
      }
      for (const pid of pids) expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
      expect(fs.existsSync(`/var/run/wireguard/${pair.a.name}.sock`)).toBe(false);
      expect(fs.existsSync(scene.dir)).toBe(false);
      await expect(scene.namespace('late')).rejects.toThrow(/torn down/);
    });
  }

  test('stale namespaces: only those with our marker and a dead owner are removed', async () => {
    const suffix = Math.random().toString(36).slice(2, 6);
    const stale = `mg-stale-${suffix}`;
    const alive = `mg-alive-${suffix}`;
    const foreign = `mg-frgn-${suffix}`;
    // a process that has exited: its pid is the "crashed" owner
    const dead = spawn('true');
    await new Promise((r) => dead.on('close', r));
    const leftover: number[] = [];
    try {
      for (const n of [stale, alive, foreign]) await execa('ip', ['netns', 'add', n]);
      fs.mkdirSync('/run/meshgate-test', { recursive: true });
      const marker = (pid: number, start: string | null) =>
        JSON.stringify({ ownerPid: pid, ownerStart: start, scene: suffix, createdAt: '', files: [] });
      const selfStart = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[19]!;
      fs.writeFileSync(`/run/meshgate-test/${stale}`, marker(dead.pid!, '1'));
      fs.writeFileSync(`/run/meshgate-test/${alive}`, marker(process.pid, selfStart));
      // a process left inside the stale namespace
      const sleeper = spawn('ip', ['netns', 'exec', stale, 'sleep', '60'], { stdio: 'ignore' });
      leftover.push(sleeper.pid!);
      await new Promise((r) => setTimeout(r, 200));

      const removed = await removeStaleNamespaces();
      expect(removed).toContain(stale);
      expect(removed).not.toContain(alive);
      expect(await namespaceExists(stale)).toBe(false);
      expect(fs.existsSync(`/run/meshgate-test/${stale}`)).toBe(false);
      expect(await namespaceExists(alive)).toBe(true);
      expect(await namespaceExists(foreign)).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
      expect(sleeper.exitCode !== null || sleeper.signalCode !== null).toBe(true);
    } finally {
      for (const pid of leftover) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      for (const n of [stale, alive, foreign]) {
        await execa('ip', ['netns', 'del', n], { reject: false });
        fs.rmSync(`/run/meshgate-test/${n}`, { force: true });
      }
    }
  });
});
