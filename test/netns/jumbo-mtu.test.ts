// A tunnel with a jumbo MTU carries full-size packets: two `meshgate up` peers
// in namespaces mg-a-ID and mg-b-ID on a veth of MTU 9000, tunnel MTU 8920
// (9000 - 80, as wg-quick would choose over an IPv6 underlay), IPv4 underlay.
//
//   1. Full-size pings with DF (8920-byte IPv4 and IPv6 packets, 8952-byte
//      WireGuard datagrams) get through both ways.
//   2. A content-checked TCP transfer each way (MSS 8880 behind the TUN's MTU).

import { describe, expect, test } from 'vitest';
import {
  PAIR,
  Scene,
  formatEndpoint,
  genKeyPair,
  netnsSkip,
  waitForPing,
  type Namespace,
  teardownScenesAfterEach,
} from './harness.js';

// iputils ping itself (not BusyBox's): the tests set DF with -M do.
const skipReason = netnsSkip('jumbo MTU tests', { commands: ['ip', 'ping'], built: true });

const UNDERLAY_MTU = 9000;
const TUNNEL_MTU = 8920;
const MB = 1_000_000;

teardownScenesAfterEach();

/** Pings with DF set and packets of exactly `size` bytes; returns how many replies came back. */
async function fullSizePing(ns: Namespace, address: string, size: number, count = 3): Promise<number> {
  const header = address.includes(':') ? 48 : 28; // IP + ICMP echo headers
  const r = await ns.exec(
    'ping',
    [address.includes(':') ? '-6' : '-4', '-M', 'do', '-s', String(size - header), '-c', String(count)].concat([
      '-i',
      '0.2',
      '-W',
      '2',
      address,
    ]),
    { check: false, timeoutMs: 20_000 },
  );
  return Number(/(\d+) (?:packets )?received/.exec(r.stdout)?.[1] ?? 0);
}

describe.skipIf(skipReason !== null)('jumbo MTU', () => {
  test(`tunnel MTU ${TUNNEL_MTU} over a ${UNDERLAY_MTU}-byte underlay: full-size packets and a transfer each way`, async () => {
    const scene = await Scene.create('jumbo');
    const nsA = await scene.namespace('a');
    const nsB = await scene.namespace('b');
    await scene.veth(nsA, nsB, {
      a: [`${PAIR.underlay4[0]}/24`],
      b: [`${PAIR.underlay4[1]}/24`],
      mtu: UNDERLAY_MTU,
    });
    const keys = [genKeyPair(), genKeyPair()] as const;
    const side = (i: 0 | 1) => ({
      privateKey: keys[i].privateKey,
      listenPort: PAIR.port,
      mtu: TUNNEL_MTU,
      addresses: [`${PAIR.inner4[i]}/24`, `${PAIR.inner6[i]}/64`],
      peers: [
        {
          publicKey: keys[1 - i]!.publicKey,
          allowedIps: [`${PAIR.inner4[1 - i]}/32`, `${PAIR.inner6[1 - i]}/128`],
          endpoint: formatEndpoint(PAIR.underlay4[1 - i]!, PAIR.port),
        },
      ],
    });
    await scene.meshgate(nsA, side(0));
    await scene.meshgate(nsB, side(1));
    await waitForPing(nsB, PAIR.inner4[0]);

    for (const [ns, to] of [
      [nsB, PAIR.inner4[0]],
      [nsA, PAIR.inner4[1]],
      [nsB, PAIR.inner6[0]],
      [nsA, PAIR.inner6[1]],
    ] as const) {
      expect(await fullSizePing(ns, to, TUNNEL_MTU), `${TUNNEL_MTU}-byte packets to ${to}`).toBe(3);
    }

    const server = await scene.xferServer(nsA);
    const results = await server.both(nsB, PAIR.inner4[0], 20 * MB, 'jumbo', 60_000);
    for (const r of results) {
      expect(r, `${r.mode}: ${r.error ?? ''}`).toMatchObject({ ok: true, bytes: 20 * MB });
    }
    console.info(
      `jumbo MTU ${TUNNEL_MTU}: ${results.map((r) => `${r.mode} ${r.mbps.toFixed(0)} Mb/s`).join(', ')} (20 MB each, content checked)`,
    );
  }, 150_000);
});
