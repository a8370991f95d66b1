// Micro-benchmark of the protocol core's packet path: two Devices joined in
// memory (fakes for clock and network), 1,420-byte IPv4 packets sealed by A
// (fromTunnel) and opened by B (fromNetwork), packets/s on one core. With the
// meshgate_aead addon where it is built, as the daemons run (MESHGATE_AEAD=node:
// node:crypto). No sockets, no TUN.
//
//   npx vite-node bench/device-micro.ts        (SECONDS=3 by default)

import { daemonCrypto } from '../shared/io/native-aead.js';
import type { Sink } from '../shared/wireguard/device.js';
import { ipv4Packet, TwoPeers } from '../test/support/two-peers.js';

const SECONDS = Number(process.env.SECONDS ?? 3);
const SIZE = 1420;

const crypto = daemonCrypto();
const net = new TwoPeers({ a: { crypto }, b: { crypto } });
net.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', 8));
net.deliver();
net.tunB.length = 0;

// The datagram A sends goes straight to B; B's tunnel output is only counted.
let delivered = 0;
const toB: Sink = { toNetwork: () => {}, toTunnel: () => void delivered++ };
const now = net.clock.now();
const sinkA: Sink = {
  toNetwork: (data) => net.b.fromNetwork(data, net.epA, now, toB),
  toTunnel: () => {},
};
const packet = ipv4Packet('10.0.0.1', '10.0.0.2', SIZE - 20);

for (let i = 0; i < 5000; i++) net.a.fromTunnel(packet, now, sinkA); // warm-up
delivered = 0;
const start = performance.now();
const end = start + SECONDS * 1000;
let sent = 0;
while (performance.now() < end) {
  for (let i = 0; i < 500; i++) net.a.fromTunnel(packet, now, sinkA);
  sent += 500;
}
const seconds = (performance.now() - start) / 1000;
if (delivered !== sent) throw new Error(`${sent - delivered} of ${sent} packets lost`);
const pps = sent / seconds;
console.log(
  `two devices in memory, ${SIZE}-byte packets, seal + open, ${crypto.aead.name}: ` +
    `${Math.round(pps)} packets/s, ${((pps * SIZE * 8) / 1e6).toFixed(0)} Mb/s`,
);
