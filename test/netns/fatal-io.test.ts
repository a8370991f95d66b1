// A daemon whose data path dies ends, loudly: `meshgate up` in a namespace
// (mg-f-ID, no peer reachable, only loopback) loses its TUN device under it
// (`ip link del`), and must exit non-zero with one error line that names the
// device and the errno, instead of running on with a dead data path.

import { describe, expect, test } from 'vitest';
import { Scene, genKeyPair, netnsSkip, teardownScenesAfterEach } from './harness.js';

const skipReason = netnsSkip('fatal I/O tests', { commands: ['ip'], built: true });

teardownScenesAfterEach();

describe.skipIf(skipReason !== null)('a fatal I/O error ends the daemon', () => {
  test('meshgate up exits non-zero with the reason when its TUN device is deleted', async () => {
    const scene = await Scene.create('fatal');
    const ns = await scene.namespace('f');
    const name = scene.ifname('f');
    const tunnel = await scene.meshgate(ns, {
      name,
      privateKey: genKeyPair().privateKey,
      listenPort: 51820,
      addresses: ['10.77.0.1/24'],
      peers: [{ publicKey: genKeyPair().publicKey, allowedIps: ['10.77.0.2/32'], endpoint: '192.0.2.99:51820' }],
    });
    await ns.ip('link', 'del', name);
    const status = await Promise.race([
      tunnel.proc.exited,
      new Promise<null>((r) => setTimeout(() => r(null), 10_000)),
    ]);
    expect(status, `still running after its TUN device was deleted:\n${tunnel.proc.tail()}`).not.toBeNull();
    expect(status!.code).toBe(1);
    const fatal = tunnel.events().filter((e) => e.event === 'fatal');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({
      level: 50,
      code: 'tun-read',
      msg: `stopping: tun ${name}: reading stopped: EBADFD`,
    });
    expect(tunnel.events().some((e) => e.event === 'stopped')).toBe(true);
  });
});
