// meshgate over a real Yggdrasil mesh: two yggdrasil nodes peer over a veth,
// and the tunnel's UDP runs between their 200::/7 addresses. Full-size TCP
// (MTU 1420 inside, MSS to match) must cross it intact in both directions,
// meshgate ↔ meshgate and meshgate ↔ wireguard-go.

import { describe, expect, test } from 'vitest';
import {
  genKeyPair,
  netnsSkip,
  Scene,
  waitForPing,
  type Namespace,
  type PeerKind,
  teardownScenesAfterEach,
} from './harness.js';
import { startYggdrasil, YGG_PORT } from './yggdrasil-node.js';

const skip = netnsSkip('Yggdrasil tests', { commands: ['ip', 'yggdrasil', 'jq', 'wireguard-go', 'wg'], built: true });
const TUNNEL_PORT = 51820;
const MB = 1024 * 1024;

teardownScenesAfterEach();

async function yggdrasilPair(scene: Scene): Promise<{ a: Namespace; b: Namespace; addrA: string; addrB: string }> {
  const a = await scene.namespace('ya');
  const b = await scene.namespace('yb');
  await scene.veth(a, b, { a: ['192.0.2.1/24'], b: ['192.0.2.2/24'] });
  // B dials A once at start and, refused, waits long before its next try: A must listen first.
  const nodeA = await startYggdrasil(scene, a, { listen: [`tcp://192.0.2.1:${YGG_PORT}`] });
  const nodeB = await startYggdrasil(scene, b, { peers: [`tcp://192.0.2.1:${YGG_PORT}`] });
  const addrA = nodeA.address;
  expect(addrA).toMatch(/^2[0-9a-f]{2}:/); // inside 200::/7
  await waitForPing(b, addrA, 20_000);
  return { a, b, addrA, addrB: nodeB.address };
}

describe.skipIf(skip !== null)('meshgate over Yggdrasil', () => {
  for (const other of ['meshgate', 'wireguard-go'] as PeerKind[]) {
    test(`meshgate ↔ ${other} between 200::/7 addresses: 20 MB each way, content checked`, async () => {
      const scene = await Scene.create(`ygg-${other}`);
      const { a, b, addrA, addrB } = await yggdrasilPair(scene);
      const ka = genKeyPair();
      const kb = genKeyPair();
      const gw = await scene.meshgate(a, {
        privateKey: ka.privateKey,
        listenPort: TUNNEL_PORT,
        addresses: ['10.78.0.1/24', 'fd00:78::1/64'],
        peers: [{ publicKey: kb.publicKey, allowedIps: ['10.78.0.2/32', 'fd00:78::2/128'] }],
      });
      await scene.tunnel(other, b, {
        privateKey: kb.privateKey,
        listenPort: TUNNEL_PORT,
        addresses: ['10.78.0.2/24', 'fd00:78::2/64'],
        peers: [
          {
            publicKey: ka.publicKey,
            allowedIps: ['10.78.0.1/32', 'fd00:78::1/128'],
            endpoint: `[${addrA}]:${TUNNEL_PORT}`,
          },
        ],
      });
      await waitForPing(b, '10.78.0.1', 15_000);
      await waitForPing(b, 'fd00:78::1', 10_000);

      const server = await scene.xferServer(a, 5301);
      for (const host of ['10.78.0.1', 'fd00:78::1']) {
        const results = await server.both(b, host, 20 * MB, `ygg-${other}-${host}`);
        for (const r of results) expect(r, JSON.stringify(r)).toMatchObject({ ok: true, bytes: 20 * MB });
      }
      const info = await gw.show();
      expect(info.peers[0]!.endpoint).toBe(`[${addrB}]:${TUNNEL_PORT}`);
      expect(info.drops?.['decrypt-failed'] ?? 0).toBe(0);
      expect(info.drops?.['invalid-packet'] ?? 0).toBe(0);
    }, 120_000);
  }
});
