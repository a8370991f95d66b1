// Brings one tunnel up on this host from a parsed wg-quick configuration:
// TUN device, addresses and routes, UDP socket, device and runner, control
// socket; and takes it all down again. Used by `meshgate up`.

import { randomBytes } from 'node:crypto';
import type { Server } from 'node:net';
import type { WgQuickConfig } from '../config/wg-quick.js';
import { serveControl } from '../control/socket.js';
import { tunnelStatus } from '../control/status.js';
import type { CommandRunner } from '../host/command.js';
import { applyLink, deleteLink } from '../host/ip.js';
import { resolveEndpoint } from '../io/endpoint.js';
import { openTun } from '../io/tun.js';
import { openUdp } from '../io/udp.js';
import type { Logger } from '../log.js';
import { DEFAULT_MTU } from '../wireguard/constants.js';
import { Device } from '../wireguard/device.js';
import { TunnelRunner } from './runner.js';

export interface Tunnel {
  readonly name: string;
  readonly device: Device;
  readonly runner: TunnelRunner;
  readonly listenPort: number;
  close(): Promise<void>;
}

const random = (n: number): Uint8Array => randomBytes(n);

/** Default routes are the client agent's business: `up` leaves them out, like a plain `wg` setup. */
function isDefaultRoute(prefixLength: number): boolean {
  return prefixLength === 0;
}

export async function startTunnel(
  name: string,
  config: WgQuickConfig,
  runner: CommandRunner,
  log: Logger,
): Promise<Tunnel> {
  const mtu = config.interface.mtu ?? DEFAULT_MTU;
  const device = new Device({ privateKey: config.interface.privateKey, random, mtu });
  for (const p of config.peers) {
    device.addPeer({
      publicKey: p.publicKey,
      presharedKey: p.presharedKey ?? undefined,
      allowedIps: p.allowedIps,
      endpoint: p.endpoint === null ? null : await resolveEndpoint(p.endpoint),
      persistentKeepalive: p.persistentKeepalive,
    });
  }

  const udp = openUdp({ port: config.interface.listenPort ?? 0 });
  let tun;
  try {
    tun = openTun(name);
  } catch (e) {
    udp.close();
    throw e;
  }
  let control: Server | null = null;
  const tunnelRunner = new TunnelRunner(device, tun, udp);
  const close = async (): Promise<void> => {
    tunnelRunner.stop();
    control?.close();
    await deleteLink(runner, name);
  };
  try {
    const routes = config.peers.flatMap((p) => p.allowedIps).filter((c) => !isDefaultRoute(c.prefixLength));
    const skipped = config.peers.flatMap((p) => p.allowedIps).filter((c) => isDefaultRoute(c.prefixLength));
    if (skipped.length > 0)
      log.warn(
        { event: 'default-route-skipped' },
        'AllowedIPs holds a default route; `up` does not install default routes',
      );
    await applyLink(runner, { name, mtu, addresses: config.interface.addresses, routes });
    tunnelRunner.start();
    control = serveControl(name, (req) => {
      if (req.op === 'status') return tunnelStatus(name, device, udp.port);
      throw new Error(`unknown op ${req.op}`);
    });
  } catch (e) {
    await close();
    throw e;
  }
  return { name, device, runner: tunnelRunner, listenPort: udp.port, close };
}
