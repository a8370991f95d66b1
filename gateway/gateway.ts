// The gateway daemon: one process that shares the uplink with the clients.
//
//   start:  config (validated, nothing changed yet) → host checks → state db
//           → device, shaper and the client registry (admin/registry.ts): the
//             file's clients and those made through the admin API, leases
//             planned for all (sticky per key), one peer per enabled client
//             (allowed IPs = its lease), each shaped (traffic/traffic.ts:
//             accounting, quotas, rate limits, fair share of uplinkCapacity)
//           → TUN with the gateway's tunnel addresses → forwarding + nftables
//           → uplink watch (uplink-watch.ts: carrier, default route, optional
//             TCP check; its state answers every PROBE) → runner (TUN ⇄ core
//             ⇄ UDP) with the lease server on the control path → handshakes
//             to clients whose endpoint is remembered, so they are back
//             within a second after a restart → control socket
//             → admin API (Unix socket, optional TCP listeners) with /metrics
//   run:    a client's new endpoint (device event) checkpointed to the state
//           db, batched to at most one write a second; usage checkpointed
//           every second (traffic/usage-keeper.ts), and agents told in-band
//           when their quota state changes; clients added, changed, disabled
//           or removed through the admin API take effect at once
//   stop:   the runner stops, usage is saved a last time, then everything else
//           is undone in reverse order; leases, clients and usage stay in the db
//
// Host changes happen only after every check passed; a failure part-way
// undoes what was already done.

import { systemRandom } from '../shared/io/random.js';
import type { Server } from 'node:net';
import { serveControl } from '../shared/control/socket.js';
import { tunnelStatus, type TunnelStatus } from '../shared/control/status.js';
import type { CommandRunner } from '../shared/host/command.js';
import { daemonCrypto } from '../shared/io/native-aead.js';
import { openTun } from '../shared/io/tun.js';
import type { TunDevice, UdpBind } from '../shared/io/types.js';
import { openUdp } from '../shared/io/udp.js';
import type { IoError } from '../shared/io/io-error.js';
import { openListeners } from '../shared/io/multi-udp.js';
import { LEASE_GATEWAY_ADDRESS } from '../shared/lease/carrier.js';
import { LeaseError } from '../shared/lease/message.js';
import type { Logger } from '../shared/log.js';
import { TunnelRunner } from '../shared/runner/runner.js';
import { slotSizesFor } from '../shared/runner/slots.js';
import { formatCidr, formatIp } from '../shared/net/address.js';
import { Device, type DeviceEvents } from '../shared/wireguard/device.js';
import type { Peer } from '../shared/wireguard/peer.js';
import { checkHost, loadGatewayConfig, type GatewayConfig } from './config.js';
import { GatewayHost } from './host.js';
import { LeaseServer, type LeaseAnswer, type LeaseCounters } from './lease-server.js';
import { grantOf, poolsOf } from './lease-plan.js';
import { gatewayAddresses } from './leases.js';
import { Store } from './store.js';
import { adminSocketPath } from './admin/api-address.js';
import { startAdminServers } from './admin/listen.js';
import { createMetrics } from './admin/metrics.js';
import { ClientRegistry } from './admin/registry.js';
import { TokenTable } from './admin/token-table.js';
import { meshgateVersion } from '../shared/cli/version.js';
import { TrafficControl } from './traffic/traffic.js';
import { CHECKPOINT_INTERVAL_MS, quotaInfoOf, UsageKeeper } from './traffic/usage-keeper.js';
import type { UsageEntry, UsageReport } from './usage-report.js';
import { uplinkMessage, UplinkWatch, type UplinkDownReason, type UplinkState } from './uplink-watch.js';

const random = systemRandom;
const CHECKPOINT_MS = 1_000;

export interface GatewayStatus extends TunnelStatus {
  leases: { name: string; publicKey: string; ipv4: string; ipv6: string }[];
  leaseProtocol: LeaseCounters;
  refused: { name: string; reason: string }[];
  usage: UsageEntry[];
  /** Whether the uplink works now (uplink-watch.ts); since: the latest change, ISO 8601. */
  uplink: { interface: string; up: boolean; reason: UplinkDownReason | null; since: string };
}

export interface Gateway {
  readonly config: GatewayConfig;
  readonly device: Device;
  readonly listenPort: number;
  /** Resolves when the TUN device or a UDP socket stops for good (the daemon must end). */
  readonly failure: Promise<IoError>;
  status(): GatewayStatus;
  close(): Promise<void>;
}

/** Starts the gateway from a config file; throws a config or host error before changing anything. */
export async function startGateway(configFile: string, runner: CommandRunner, log: Logger): Promise<Gateway> {
  const config = loadGatewayConfig(configFile);
  await checkHost(config, runner);

  const store = Store.open(config.stateDir);
  const undo: (() => Promise<void> | void)[] = [() => store.close()];
  const rollback = async () => {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (e) {
        log.error({ event: 'cleanup-failed', err: (e as Error).message }, 'cleanup step failed');
      }
    }
  };

  try {
    const pools = poolsOf(config, store);
    // A generated ULA pool is known only now: check it against the host too.
    if (config.ipv6.pool === null) await checkHost(config, runner, { ipv6Pool: pools.ipv6 });
    const gw = gatewayAddresses(pools);
    const traffic = new TrafficControl({
      capacity: config.uplinkCapacity,
      gatewayIpv4: gw.ipv4,
      gatewayIpv6: gw.ipv6,
      random,
      now: performance.now(),
    });
    // The clients (file and admin API) are the registry's; it exists once the device does.
    let registry: ClientRegistry | null = null;
    const answer = (publicKey: string): LeaseAnswer => {
      const lease = registry?.leaseOf(publicKey) ?? null;
      if (lease !== null) return { grant: grantOf(lease, pools, config) };
      if (registry?.has(publicKey) !== true) return { refused: LeaseError.Internal };
      return { refused: registry.isEnabled(publicKey) ? LeaseError.PoolExhausted : LeaseError.ClientDisabled };
    };
    // The uplink's state from its first check on: the first HEALTH already tells it.
    const logUplink = (s: UplinkState) =>
      s.up
        ? log.info({ event: 'uplink', state: 'up' }, uplinkMessage(config.uplink, s))
        : log.warn({ event: 'uplink', state: 'down', reason: s.reason }, uplinkMessage(config.uplink, s));
    const uplink = new UplinkWatch({ uplink: config.uplink, check: config.uplinkCheck, onChange: logUplink });
    if (!uplink.state.up) logUplink(uplink.state);
    const leaseServer = new LeaseServer(answer, {
      uplinkUp: () => uplink.state.up,
      quotaOf: (publicKey) => {
        const c = registry?.shapedOf(publicKey);
        return c === undefined ? null : quotaInfoOf(c);
      },
    });

    // A client that roamed: its endpoint goes to the state db, at most one write a second.
    const saved = store.endpoints();
    const roamed = new Set<Peer>();
    let checkpointTimer: NodeJS.Timeout | null = null;
    const checkpoint = () => {
      checkpointTimer = null;
      for (const peer of roamed) {
        const ep = peer.endpoint?.key;
        if (ep !== undefined && saved.get(peer.keyText) !== ep) {
          store.saveEndpoint(peer.keyText, ep, Date.now());
          saved.set(peer.keyText, ep);
        }
      }
      roamed.clear();
    };
    const events: DeviceEvents = {
      endpointChanged: (peer) => {
        roamed.add(peer);
        checkpointTimer ??= setTimeout(checkpoint, CHECKPOINT_MS);
      },
      handshakeCompleted: () => registry?.handshakeCompleted(),
    };

    const device = new Device({
      privateKey: config.privateKey,
      random,
      mtu: config.mtu,
      crypto: daemonCrypto(), // OpenSSL through the addon where it was built
      control: leaseServer.handle,
      events,
      shaper: traffic,
    });
    let listenPort = 0;
    registry = new ClientRegistry({
      config,
      store,
      pools,
      device,
      traffic,
      random,
      log,
      version: meshgateVersion(),
      listenPort: () => listenPort,
      uplinkUp: () => uplink.state.up,
    });
    const clients = registry;
    // Config errors (a file client the API also has) come out here, before any host change.
    for (const key of clients.load().refused) {
      log.warn(
        { event: 'lease-refused', client: clients.nameOf(key), reason: 'pool-exhausted' },
        'no lease for client',
      );
    }

    const slots = slotSizesFor(config.mtu); // full-size packets must fit a batch slot
    const udp: UdpBind = openListeners(config.listenPort, config.listenAddresses, (o) =>
      openUdp({ ...o, slotSize: slots.udp }),
    );
    undo.push(() => udp.close());
    listenPort = udp.port;

    const tun: TunDevice = openTun(config.interface, { slotSize: slots.tun });
    undo.push(() => tun.close());
    // The TUN's addresses, forwarding, then the firewall: one state, one undo.
    const host = new GatewayHost(runner, store);
    undo.push(() => host.reset());
    await host.set({
      interface: config.interface,
      mtu: config.mtu,
      addresses: [
        { family: 4, address: gw.ipv4, prefixLength: pools.ipv4.prefixLength },
        { family: 6, address: gw.ipv6, prefixLength: pools.ipv6.prefixLength },
      ],
      uplink: config.uplink,
      firewall: {
        table: 'meshgate',
        tunnel: config.interface,
        uplink: config.uplink,
        ipv4Pool: pools.ipv4,
        ipv6Pool: pools.ipv6,
        ipv6Mode: config.ipv6.mode,
        gatewayIpv4: gw.ipv4,
        gatewayIpv6: gw.ipv6,
        mtu: config.mtu,
        allowPrivate: config.allowPrivate,
      },
    });

    const tunnelRunner = new TunnelRunner(device, tun, udp, { log, held: traffic });
    // Usage: saved every second, and once more after the runner stopped (undo runs in reverse).
    const keeper = new UsageKeeper(traffic, store, (c) => {
      const packet = leaseServer.statusFor(c.peer);
      if (packet !== null) tunnelRunner.sendOutsideBatch((d, now, sink) => d.sendPacket(c.peer, packet, now, sink));
      log.info(
        { event: 'quota-state', client: clients.nameOf(c.usage.publicKey), state: c.usage.state, used: c.usage.used },
        `client ${clients.nameOf(c.usage.publicKey) ?? c.usage.publicKey} is ${c.usage.state}`,
      );
    });
    const checkpointUsage = () => {
      try {
        keeper.checkpoint(Date.now());
        clients.sample();
      } catch (e) {
        log.error({ event: 'usage-checkpoint-failed', err: (e as Error).message }, 'could not save usage');
      }
    };
    const usageTimer = setInterval(checkpointUsage, CHECKPOINT_INTERVAL_MS);
    undo.push(() => {
      clearInterval(usageTimer);
      checkpointUsage();
    });
    uplink.start();
    undo.push(() => uplink.stop());
    tunnelRunner.start();
    undo.push(() => tunnelRunner.stop());
    // After a restart, clients still hold sessions we forgot: start new ones at once.
    tunnelRunner.sendOutsideBatch((d, now, sink) => {
      for (const peer of d.peers()) if (peer.endpoint !== null) d.initiateHandshake(peer, now, sink);
    });
    undo.push(() => {
      if (checkpointTimer !== null) clearTimeout(checkpointTimer);
      checkpoint();
    });

    const status = (): GatewayStatus => {
      const views = clients.listClients();
      return {
        ...tunnelStatus(config.interface, device, udp.port, tunnelRunner.packetErrors),
        leases: views.flatMap((v) => (v.lease === null ? [] : [{ name: v.name, publicKey: v.publicKey, ...v.lease }])),
        leaseProtocol: { ...leaseServer.counters },
        refused: views.filter((v) => v.lease === null).map((v) => ({ name: v.name, reason: 'pool-exhausted' })),
        usage: views.map((v) => v.usage),
        uplink: {
          interface: config.uplink,
          up: uplink.state.up,
          reason: uplink.state.reason,
          since: new Date(uplink.state.since).toISOString(),
        },
      };
    };
    const usage = (): UsageReport => ({
      at: new Date().toISOString(),
      clients: clients.listClients().map((v) => v.usage),
    });
    const control: Server = serveControl(config.interface, (req) => {
      if (req.op === 'status') return status();
      if (req.op === 'usage') return usage();
      throw new Error(`unknown op ${req.op}`);
    });
    undo.push(() => {
      control.close();
    });
    // The admin API: its Unix socket always, TCP listeners when configured (docs/admin-api.md).
    const admin = await startAdminServers({
      backend: clients,
      metrics: createMetrics(clients),
      tokens: new TokenTable(store),
      metricsPublic: config.admin.metricsPublic,
      log,
      socketPath: adminSocketPath(config.interface),
      listen: config.admin.listen,
    });
    undo.push(() => admin.close());

    log.info(
      {
        event: 'ready',
        interface: config.interface,
        listenPort: udp.port,
        uplink: config.uplink,
        ipv4Pool: formatCidr(pools.ipv4),
        ipv6Pool: formatCidr(pools.ipv6),
        gateway: [formatIp(gw.ipv4), formatIp(gw.ipv6)],
        leaseServer: formatIp(LEASE_GATEWAY_ADDRESS),
        clients: clients.listClients().length,
        admin: admin.addresses,
        aead: device.crypto.aead.name,
      },
      `gateway ${config.interface} is up`,
    );
    let closed = false;
    return {
      config,
      device,
      listenPort: udp.port,
      failure: tunnelRunner.failure,
      status,
      close: async () => {
        if (closed) return;
        closed = true;
        await rollback();
      },
    };
  } catch (e) {
    await rollback();
    throw e;
  }
}
