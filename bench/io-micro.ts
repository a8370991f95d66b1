// Micro-benchmark of the native I/O layer: raw TUN read, UDP receive and UDP
// send (batched sendmmsg vs. one datagram per flush vs. node:dgram), packets/s
// and CPU share of this process, and from both the CPU cost per packet on the
// measured side (robust when the generator, not the reader, is the limit).
// Packets never leave a private namespace.
//
//   npx vite-node bench/io-micro.ts            (as root; SECONDS=3 by default)
//
// The outer run creates namespace mg-iob-<pid> (loopback; veth mg-b0/mg-b1 with
// 192.0.2.1/24 and a static neighbour 192.0.2.77 that nobody answers: frames
// to it die at mg-b1), re-runs this file inside it with `ip netns exec`, and
// deletes the namespace afterwards, also on failure or Ctrl-C. Traffic comes
// from a child node process (the addon's sendmmsg in a tight loop) so that
// generator and reader run on different cores.

import { execa, execaSync, type ResultPromise } from 'execa';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { parseEndpoint } from '../shared/io/endpoint.js';
import { packageRoot } from '../shared/io/native.js';
import { openTun } from '../shared/io/tun.js';
import { openUdp } from '../shared/io/udp.js';

const SECONDS = Number(process.env.SECONDS_PER_CASE ?? process.env.SECONDS ?? 3);
const IP_PACKET = 1420; // bytes, as in the design measurements
const UDP_PAYLOAD = IP_PACKET - 28;

interface Row {
  case: string;
  pps: number;
  cpu: number;
}

function measureStart(): () => { secs: number; cpu: number } {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  return () => {
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(c0);
    return { secs, cpu: (c.user + c.system) / 1e6 / secs };
  };
}

/** A child process sending UDP_PAYLOAD-byte datagrams to host:port with sendmmsg for `secs`. */
function generator(host: string, port: number, secs: number): ResultPromise {
  const addon = `${packageRoot()}/build/Release/meshgate_io.node`;
  const [a, b, c, d] = host.split('.').map(Number);
  const script = `
    const m = require(${JSON.stringify(addon)});
    const any = new Uint8Array(24); any[10] = 0xff; any[11] = 0xff;
    const { handle } = m.udpOpen(4, any, 0, 4 << 20);
    const B = 64, S = ${UDP_PAYLOAD};
    const buf = new Uint8Array(B * S), lens = new Int32Array(B).fill(S), addrs = new Uint8Array(B * 24);
    for (let i = 0; i < B; i++) addrs.set([0,0,0,0,0,0,0,0,0,0,255,255,${a},${b},${c},${d},${port >> 8},${port & 255}], i * 24);
    const end = Date.now() + ${secs * 1000};
    let sent = 0;
    while (Date.now() < end) { sent += B - m.udpSend(handle, buf, lens, addrs, B, S); }
    console.log(sent);
  `;
  return execa(process.execPath, ['-e', script]);
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Runs the generator at host:port and counts packets/s and CPU over SECONDS, after a 500 ms warm-up. */
async function measureReceive(name: string, host: string, port: number, count: () => number): Promise<Row> {
  const gen = generator(host, port, SECONDS + 1);
  await sleep(500);
  const p0 = count();
  const done = measureStart();
  await sleep(SECONDS * 1000);
  const m = done();
  const p1 = count();
  await gen;
  return { case: name, pps: (p1 - p0) / m.secs, cpu: m.cpu };
}

async function benchTunRead(slots: number): Promise<Row> {
  const tun = openTun('mg-bt0', { slots });
  try {
    execaSync('ip', ['addr', 'add', '10.99.0.1/24', 'dev', 'mg-bt0']);
    execaSync('ip', ['link', 'set', 'mg-bt0', 'up', 'txqueuelen', '1000']);
    let packets = 0;
    tun.start({ packet: () => void packets++, batchEnd: () => {} });
    return await measureReceive(`TUN read, ${slots}/batch`, '10.99.0.2', 9, () => packets);
  } finally {
    tun.close();
  }
}

async function benchUdpRecv(slots: number): Promise<Row> {
  const udp = openUdp({ port: 0, address: '127.0.0.1', slots });
  try {
    let packets = 0;
    udp.start({ datagram: () => void packets++, batchEnd: () => {} });
    return await measureReceive(`UDP recvmmsg, ${slots}/batch`, '127.0.0.1', udp.port, () => packets);
  } finally {
    udp.close();
  }
}

/** Sends to 192.0.2.77 (a static neighbour on the veth): the full send path, nobody receives. */
async function benchUdpSend(batch: number): Promise<Row> {
  const udp = openUdp({ port: 0, address: '192.0.2.1', slots: Math.max(batch, 1) });
  try {
    const to = parseEndpoint('192.0.2.77:9');
    const data = new Uint8Array(UDP_PAYLOAD);
    const done = measureStart();
    const end = Date.now() + SECONDS * 1000;
    let sent = 0;
    while (Date.now() < end) {
      for (let i = 0; i < 256; i++) {
        udp.send(data, to);
        if ((i + 1) % batch === 0) udp.flush();
      }
      udp.flush();
      sent += 256;
      if ((sent & 0xffff) === 0) await sleep(0);
    }
    const m = done();
    return { case: `UDP send, flush every ${batch}`, pps: (sent - udp.sendErrors) / m.secs, cpu: m.cpu };
  } finally {
    udp.close();
  }
}

async function benchDgramSend(): Promise<Row> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '192.0.2.1', r));
  const data = new Uint8Array(UDP_PAYLOAD);
  const done = measureStart();
  const end = Date.now() + SECONDS * 1000;
  let sent = 0;
  while (Date.now() < end) {
    // 64 sends in flight at a time, as a fair batch against sendmmsg
    await Promise.all(
      Array.from({ length: 64 }, () => new Promise<void>((r) => sock.send(data, 9, '192.0.2.77', () => r()))),
    );
    sent += 64;
  }
  const m = done();
  sock.close();
  return { case: 'node:dgram send (64 in flight)', pps: sent / m.secs, cpu: m.cpu };
}

async function inner(): Promise<void> {
  const rows: Row[] = [];
  for (const slots of [1, 64]) rows.push(await benchTunRead(slots));
  for (const slots of [1, 64]) rows.push(await benchUdpRecv(slots));
  for (const batch of [1, 8, 64]) rows.push(await benchUdpSend(batch));
  rows.push(await benchDgramSend());
  console.log(`meshgate io-micro: ${IP_PACKET}-byte IP packets, ${SECONDS}s per case, node ${process.version}`);
  console.log('case                              packets/s   CPU of this process   CPU µs/packet');
  for (const r of rows) {
    const us = r.pps > 0 ? ((r.cpu / r.pps) * 1e6).toFixed(2) : '-';
    console.log(
      `${r.case.padEnd(32)} ${Math.round(r.pps).toString().padStart(10)}   ${(r.cpu * 100).toFixed(0).padStart(4)} %`.padEnd(
        66,
      ) + us.padStart(8),
    );
  }
  console.log('(the machine is shared: packets/s depends on the generator; CPU µs/packet is the cost on this side)');
}

async function outer(): Promise<void> {
  const ns = `mg-iob-${process.pid}`;
  const cleanup = (): void => void execaSync('ip', ['netns', 'del', ns], { reject: false });
  const onSignal = (): void => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    execaSync('ip', ['netns', 'add', ns]);
    const nsIp = (...args: string[]): void => void execaSync('ip', ['-n', ns, ...args]);
    nsIp('link', 'set', 'lo', 'up');
    nsIp('link', 'add', 'mg-b0', 'type', 'veth', 'peer', 'name', 'mg-b1');
    nsIp('addr', 'add', '192.0.2.1/24', 'dev', 'mg-b0');
    nsIp('link', 'set', 'mg-b0', 'up');
    nsIp('link', 'set', 'mg-b1', 'up');
    nsIp('neigh', 'add', '192.0.2.77', 'lladdr', '02:00:00:00:00:77', 'dev', 'mg-b0', 'nud', 'permanent');
    const viteNode = `${packageRoot()}/node_modules/vite-node/vite-node.mjs`;
    await execa('ip', ['netns', 'exec', ns, process.execPath, viteNode, fileURLToPath(import.meta.url)], {
      env: { MG_BENCH_INNER: '1' },
      stdio: 'inherit',
    });
  } finally {
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.env.MG_BENCH_INNER === '1') await inner();
else await outer();
