// Brings one tunnel up on this host from a parsed wg-quick configuration:
// TUN device, addresses and routes, UDP socket, device and runner, control
// socket; and takes it all down again. Used by `meshgate up`.
//
// Routes follow wg-quick: each AllowedIPs prefix is routed into the tunnel
// (Table = auto, the default); a default route (0.0.0.0/0, ::/0) goes into a
// table of its own behind a fwmark rule, and the tunnel's UDP socket marks its
// packets, so they never loop into the tunnel and the main table's more
// specific routes (LAN, mesh, underlay) still win (shared/host/policy-routing.ts).
// Table = off installs no routes; Table = N puts every route into table N.
// All of it is one HostState, applied by a HostConfigurator and undone by its reset().

import { systemRandom } from '../io/random.js';
import type { Server } from 'node:net';
import type { WgQuickConfig } from '../config/wg-quick.js';
import { serveControl } from '../control/socket.js';
import { tunnelStatus } from '../control/status.js';
import type { CommandRunner } from '../host/command.js';
import { EMPTY_HOST_STATE, HostConfigurator } from '../host/configurator.js';
import { chooseTable, defaultRouteState } from '../host/policy-routing.js';
import { resolveEndpoint } from '../io/endpoint.js';
import { daemonCrypto } from '../io/native-aead.js';
import { openTun } from '../io/tun.js';
import { openUdp } from '../io/udp.js';
import type { Logger } from '../log.js';
import { DEFAULT_MTU } from '../wireguard/constants.js';
import { Device } from '../wireguard/device.js';
import { TunnelRunner } from './runner.js';
import { slotSizesFor } from './slots.js';

export interface Tunnel {
  readonly name: string;
  readonly device: Device;
  readonly runner: TunnelRunner;
  readonly listenPort: number;
  close(): Promise<void>;
}

const random = systemRandom;

export async function startTunnel(
  name: string,
  config: WgQuickConfig,
  runner: CommandRunner,
  log: Logger,
): Promise<Tunnel> {
  const mtu = config.interface.mtu ?? DEFAULT_MTU;
  // ChaCha20-Poly1305, X25519 and BLAKE2s: OpenSSL through the addon where it was built.
  const device = new Device({ privateKey: config.interface.privateKey, random, mtu, crypto: daemonCrypto() });
  for (const p of config.peers) {
    device.addPeer({
      publicKey: p.publicKey,
      presharedKey: p.presharedKey ?? undefined,
      allowedIps: p.allowedIps,
      endpoint: p.endpoint === null ? null : await resolveEndpoint(p.endpoint),
      persistentKeepalive: p.persistentKeepalive,
    });
  }

  const allowed = config.peers.flatMap((p) => p.allowedIps);
  const { table, fwMark } = config.interface;
  const defaultFamilies =
    table === 'auto'
      ? ([4, 6] as const).filter((f) => allowed.some((c) => c.family === f && c.prefixLength === 0))
      : [];
  // The mark is the table number unless the config names one (wg-quick does the same).
  const routeTable = defaultFamilies.length > 0 ? await chooseTable(runner, fwMark) : null;
  const mark = routeTable ?? fwMark ?? 0;
  const slots = slotSizesFor(mtu); // full-size packets must fit a batch slot
  const udp = openUdp({
    port: config.interface.listenPort ?? 0,
    slotSize: slots.udp,
    ...(mark !== 0 ? { mark } : {}),
  });
  let tun;
  try {
    tun = openTun(name, { slotSize: slots.tun });
  } catch (e) {
    udp.close();
    throw e;
  }
  let control: Server | null = null;
  const host = new HostConfigurator(runner);
  const tunnelRunner = new TunnelRunner(device, tun, udp, { log });
  const close = async (): Promise<void> => {
    tunnelRunner.stop();
    control?.close();
    await host
      .reset()
      .catch((e: unknown) =>
        log.warn({ event: 'cleanup-failed', err: (e as Error).message }, 'could not undo every host change'),
      );
  };
  try {
    const routes = table === 'off' ? [] : table === 'auto' ? allowed.filter((c) => c.prefixLength > 0) : allowed;
    const defaults = routeTable === null ? null : defaultRouteState(routeTable, defaultFamilies);
    await host.set({
      ...EMPTY_HOST_STATE,
      link: { name, mtu, up: true, owned: true },
      addresses: config.interface.addresses,
      routes: [
        ...routes.map((cidr) => (typeof table === 'number' ? { cidr, table } : { cidr })),
        ...(defaults?.routes ?? []),
      ],
      rules: defaults?.rules ?? [],
      sysctls: defaults?.sysctls ?? [],
    });
    if (routeTable !== null) {
      log.info(
        { event: 'default-routes', table: routeTable, families: defaultFamilies },
        `default routes through ${name} in table ${routeTable}; the tunnel's own packets carry fwmark ${routeTable}`,
      );
    }
    tunnelRunner.start();
    control = serveControl(name, (req) => {
      if (req.op === 'status') return tunnelStatus(name, device, udp.port, tunnelRunner.packetErrors);
      throw new Error(`unknown op ${req.op}`);
    });
  } catch (e) {
    await close();
    throw e;
  }
  return { name, device, runner: tunnelRunner, listenPort: udp.port, close };
}
