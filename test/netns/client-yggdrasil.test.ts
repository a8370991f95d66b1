// Issue 10, proof 2: the client agent with `routes: [default]` over a real
// Yggdrasil mesh, a line of three Debian `yggdrasil` nodes peered only with
// their neighbours (no multicast, no admin socket):
//
//   mg-cl-ID     yggdrasil (peers with relay) + `meshgate client`, endpoint
//        │       "[<gateway's 200::/7 address>]:51820", routes: [default]
//        │ 192.0.2.2/24 — 192.0.2.1/24
//   mg-relay-ID  yggdrasil, listens on both links
//        │ 203.0.113.1/24 — 203.0.113.2/24
//   mg-gw-ID     yggdrasil (peers with relay) + `meshgate gateway` listening on its
//        │       200::/7 address only, uplink up0
//        │ up0 198.51.100.2/24 2001:db8:100::2/64 — isp0 198.51.100.1/24 2001:db8:100::1/64
//   mg-inet-ID   "the Internet": tools/http-server.mjs on port 80
//
// Proves: the agent gets its lease across the mesh and routes everything into the
// tunnel; 20 MB over IPv4 and over IPv6 from the Internet arrive content-checked
// (throughput logged); the mesh stays up: the relay's 200::/7 address is routed on
// the Yggdrasil TUN, not the tunnel, and answers a ping; the tunnel's own UDP leaves
// on the Yggdrasil TUN, never into the tunnel (nft counters in the client namespace).

import path from 'node:path';
import { performance } from 'node:perf_hooks';
import YAML from 'yaml';
import { describe, expect, test } from 'vitest';
import {
  MESHGATE_BIN,
  Scene,
  genKeyPair,
  netnsSkip,
  ping,
  teardownScenesAfterEach,
  waitForPing,
  type Namespace,
} from './harness.js';
import {
  NET,
  canonicalIp,
  expectedSha256,
  httpGet,
  httpServer,
  httpUrl,
  jsonLines,
  nftCounters,
} from './gateway-scene.js';
import { startYggdrasil, YGG_PORT } from './yggdrasil-node.js';
import { stateFileOf } from '../../client/client-state.js';

const skip = netnsSkip('client over Yggdrasil', {
  commands: ['ip', 'nft', 'yggdrasil', 'jq'],
  ping: true,
  built: true,
});

const MB = 1024 * 1024;
const TRANSFER_BYTES = 20 * MB;
const READY = /"event"\s*:\s*"ready"/;
const LEASE = /"event"\s*:\s*"lease"/;
const RUN_DIR = '/var/run/meshgate';
/** The client's side test table: UDP to/from the gateway's port counted per device. */
const COUNT_TABLE = 'mgtest';
/** A line of Yggdrasil nodes takes a few seconds to find routes end to end. */
const MESH_ROUTE_MS = 30_000;

teardownScenesAfterEach();

async function routeDev(ns: Namespace, to: string, ...extra: string[]): Promise<string> {
  const out = (await ns.ip(to.includes(':') ? '-6' : '-4', 'route', 'get', to, ...extra)).stdout;
  return /\bdev (\S+)/.exec(out)?.[1] ?? `(no dev in: ${out})`;
}

/** Counts the client's UDP to and from the gateway's port by device (named nft counters, bytes). */
async function countTunnelUdp(ns: Namespace, yggTun: string, mgTun: string): Promise<void> {
  const port = NET.listenPort;
  const rules = `table inet ${COUNT_TABLE} {
  counter out_ygg {}
  counter out_tunnel {}
  counter in_ygg {}
  chain out {
    type filter hook output priority 0; policy accept;
    oifname "${yggTun}" udp dport ${port} counter name out_ygg
    oifname "${mgTun}" udp dport ${port} counter name out_tunnel
  }
  chain in {
    type filter hook input priority 0; policy accept;
    iifname "${yggTun}" udp sport ${port} counter name in_ygg
  }
}
`;
  const file = ns.scene.writeFile('count.nft', rules);
  await ns.exec('nft', ['-f', file]);
}

describe.skipIf(skip !== null)('meshgate client with routes: [default] over a three-node Yggdrasil line', () => {
  test('lease and default route across the mesh, 20 MB each family content-checked, the mesh itself outside the tunnel', async () => {
    const scene = await Scene.create('cygg');
    const cl = await scene.namespace('cl');
    const relay = await scene.namespace('relay');
    const gw = await scene.namespace('gw');
    const inet = await scene.namespace('inet');
    const clLink = await scene.veth(cl, relay, { a: ['192.0.2.2/24'], b: ['192.0.2.1/24'] });
    await scene.veth(relay, gw, { a: ['203.0.113.1/24'], b: ['203.0.113.2/24'] });
    await scene.veth(inet, gw, {
      names: ['isp0', 'up0'],
      a: [`${NET.inet4}/24`, `${NET.inet6}/64`],
      b: [`${NET.uplink4}/24`, `${NET.uplink6}/64`],
    });
    await gw.ip('-4', 'route', 'add', 'default', 'via', NET.inet4, 'dev', 'up0');
    await gw.ip('-6', 'route', 'add', 'default', 'via', NET.inet6, 'dev', 'up0');
    await httpServer(inet, 'http', [NET.inet4, NET.inet6], NET.httpPort);

    // The relay listens on both links first; its neighbours dial it.
    const relayNode = await startYggdrasil(scene, relay, {
      listen: [`tcp://192.0.2.1:${YGG_PORT}`, `tcp://203.0.113.1:${YGG_PORT}`],
    });
    const clNode = await startYggdrasil(scene, cl, { peers: [`tcp://192.0.2.1:${YGG_PORT}`] });
    const gwNode = await startYggdrasil(scene, gw, { peers: [`tcp://203.0.113.1:${YGG_PORT}`] });
    for (const a of [relayNode.address, clNode.address, gwNode.address]) expect(a).toMatch(/^2[0-9a-f]{2}:/);
    const meshStart = performance.now();
    await waitForPing(cl, gwNode.address, MESH_ROUTE_MS);
    const meshMs = performance.now() - meshStart;

    // The gateway, on its 200::/7 address only.
    const keys = { gateway: genKeyPair(), client: genKeyPair() };
    const gwTun = scene.ifname('g');
    const clTun = scene.ifname('c');
    scene.ownFile(path.join(RUN_DIR, `${gwTun}.sock`), gw);
    scene.ownFile(path.join(RUN_DIR, `${clTun}.sock`), cl);
    scene.ownFile(stateFileOf(clTun), cl);
    const endpoint = `[${gwNode.address}]:${NET.listenPort}`;
    const gwConfig = scene.writeFile(
      'gateway.yaml',
      YAML.stringify({
        privateKeyFile: scene.writeFile('gateway.key', keys.gateway.privateKey + '\n'),
        listenPort: NET.listenPort,
        listenAddresses: [gwNode.address],
        endpoint,
        uplink: 'up0',
        interface: gwTun,
        mtu: 1420,
        ipv4Pool: NET.ipv4Pool,
        ipv6: { mode: 'nat66', leasePrefixLength: 128 },
        dns: [],
        stateDir: path.join(scene.dir, 'state'),
        clients: [{ name: 'alice', publicKey: keys.client.publicKey }],
      }),
    );
    const gateway = gw.spawn('gateway', 'node', [MESHGATE_BIN, 'gateway', '--config', gwConfig]);
    await gateway.waitFor(READY, 20_000);

    // The agent: everything through the gateway, reached over the mesh.
    const startAgent = () => {
      const file = scene.writeFile(
        'client.yaml',
        YAML.stringify({
          privateKeyFile: scene.writeFile('client.key', keys.client.privateKey + '\n'),
          interface: clTun,
          gateway: { publicKey: keys.gateway.publicKey, endpoint },
          persistentKeepalive: 25,
          routes: ['default'],
          dns: false,
        }),
      );
      return cl.spawn('client', 'node', [MESHGATE_BIN, 'client', '--config', file]);
    };
    const agentStart = performance.now();
    const agent = startAgent();
    await agent.waitFor(LEASE, 20_000);
    const leaseMs = performance.now() - agentStart;
    await agent.waitFor(READY, 10_000);
    const readyMs = performance.now() - agentStart;
    const lease = jsonLines(agent.output()).find((e) => e.event === 'lease')!;
    expect(String(lease.ipv4)).not.toBe('');
    expect(String(lease.ipv6)).not.toBe('');
    await countTunnelUdp(cl, clNode.tun, clTun);

    // The default route: the Internet through the tunnel, its NAT seen at the server.
    expect(await routeDev(cl, NET.inet4)).toBe(clTun);
    expect(await routeDev(cl, NET.inet6)).toBe(clTun);
    for (const [family, address, uplink] of [
      [4, NET.inet4, NET.uplink4],
      [6, NET.inet6, NET.uplink6],
    ] as const) {
      const r = await httpGet(cl, httpUrl(address, NET.httpPort, '/whoami'), { timeoutS: 10 });
      expect(r, `whoami over IPv${family}: ${JSON.stringify(r)}`).toMatchObject({ ok: true });
      expect(canonicalIp(String(r.body).trim())).toBe(canonicalIp(uplink));
    }

    // Content-checked transfers, both families inside the tunnel.
    const rates: string[] = [];
    for (const [family, address] of [
      [4, NET.inet4],
      [6, NET.inet6],
    ] as const) {
      const seed = `ygg-line-${family}`;
      const r = await httpGet(cl, httpUrl(address, NET.httpPort, `/data/${TRANSFER_BYTES}?seed=${seed}`), {
        timeoutS: 20,
      });
      expect(r, `20 MB over IPv${family}: ${JSON.stringify(r)}`).toMatchObject({ ok: true, bytes: TRANSFER_BYTES });
      expect(r.sha256).toBe(expectedSha256(TRANSFER_BYTES, seed));
      rates.push(
        `IPv${family} ${((TRANSFER_BYTES * 8) / r.seconds / 1e6).toFixed(0)} Mbit/s (${r.seconds.toFixed(2)} s)`,
      );
    }

    // The mesh stays up: the relay is reached on the Yggdrasil TUN, directly.
    expect(await routeDev(cl, relayNode.address)).toBe(clNode.tun);
    const reply = await ping(cl, relayNode.address, { count: 3 });
    expect(reply.received, reply.output).toBeGreaterThan(0);
    // So does the underlay the Yggdrasil peering runs over (lan: outside).
    expect(await routeDev(cl, '192.0.2.1')).toBe(clLink.a);
    // The tunnel's own UDP (marked by the agent) leaves on the Yggdrasil TUN ...
    const mark = /not from all fwmark 0x([0-9a-f]+) lookup (\d+)/.exec((await cl.ip('-6', 'rule')).stdout);
    expect(mark, 'the fwmark rule').not.toBeNull();
    expect(await routeDev(cl, gwNode.address, 'mark', String(parseInt(mark![1]!, 16)))).toBe(clNode.tun);
    // ... and did so for the whole transfer: the UDP bytes in over the Yggdrasil TUN
    // carry both downloads; not one UDP packet to the gateway's port went into the tunnel.
    const bytes = await nftCounters(cl, 'inet', COUNT_TABLE, { unit: 'bytes', required: true });
    expect(bytes.in_ygg).toBeGreaterThan(2 * TRANSFER_BYTES);
    expect(bytes.out_ygg).toBeGreaterThan(0);
    expect(bytes.out_tunnel).toBe(0);

    console.log(
      `client over Yggdrasil (3 nodes): mesh route ${meshMs.toFixed(0)} ms; lease ${leaseMs.toFixed(0)} ms, ` +
        `ready ${readyMs.toFixed(0)} ms after the agent started; 20 MB: ${rates.join(', ')}`,
    );

    process.kill(agent.pid, 'SIGINT');
    expect((await agent.exited).code).toBe(0);
  }, 60_000);
});
