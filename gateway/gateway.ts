// The gateway daemon: one process that shares the uplink with the clients.
//
//   start:  config (validated, nothing changed yet) → host checks → state db
//           → leases planned for every configured client (sticky per key)
//           → device with one peer per client (allowed IPs = its lease)
//           → TUN with the gateway's tunnel addresses → forwarding + nftables
//           → runner (TUN ⇄ core ⇄ UDP) with the lease server on the control
//             path → handshakes to clients whose endpoint is remembered, so
//             they are back within a second after a restart → control socket
//           every client's data packets pass the shaper (traffic/traffic.ts):
//           accounting, quotas, rate limits, fair share of uplinkCapacity
//   run:    a client's new endpoint (device event) checkpointed to the state
//           db, batched to at most one write a second; usage checkpointed
//           every second (traffic/usage-keeper.ts), and agents told in-band
//           when their quota state changes
//   stop:   the runner stops, usage is saved a last time, then everything else
//           is undone in reverse order; leases and usage stay in the db
//
// Host changes happen only after every check passed; a failure part-way
// undoes what was already done.

import { systemRandom } from '../shared/io/random.js';
import type { Server } from 'node:net';
import { serveControl } from '../shared/control/socket.js';
import { tunnelStatus, type TunnelStatus } from '../shared/control/status.js';
import type { CommandRunner } from '../shared/host/command.js';
import { parseEndpoint } from '../shared/io/endpoint.js';
import { daemonCrypto } from '../shared/io/native-aead.js';
import { openTun } from '../shared/io/tun.js';
import type { Endpoint, TunDevice, UdpBind } from '../shared/io/types.js';
import { openUdp } from '../shared/io/udp.js';
import type { IoError } from '../shared/io/io-error.js';
import { openListeners } from '../shared/io/multi-udp.js';
import { LEASE_GATEWAY_ADDRESS } from '../shared/lease/carrier.js';
import { LeaseError } from '../shared/lease/message.js';
import type { Logger } from '../shared/log.js';
import { TunnelRunner } from '../shared/runner/runner.js';
import { slotSizesFor } from '../shared/runner/slots.js';
import { formatCidr, formatIp, type Cidr } from '../shared/net/address.js';
import { Device, type DeviceEvents } from '../shared/wireguard/device.js';
import { formatKey } from '../shared/wireguard/keys.js';
import type { Peer } from '../shared/wireguard/peer.js';
import { checkHost, loadGatewayConfig, type GatewayConfig } from './config.js';
import { GatewayHost } from './host.js';
import { LeaseServer, type LeaseAnswer, type LeaseCounters } from './lease-server.js';
import { grantOf, leasesFor, poolsOf } from './lease-plan.js';
import { gatewayAddresses } from './leases.js';
import { Store } from './store.js';
import { TrafficControl, type ShapedClient } from './traffic/traffic.js';
import { ClientUsage } from './traffic/usage.js';
import { CHECKPOINT_INTERVAL_MS, quotaInfoOf, UsageKeeper } from './traffic/usage-keeper.js';
import { usageEntry, type UsageEntry, type UsageReport } from './usage-report.js';

const random = systemRandom;
const CHECKPOINT_MS = 1_000;

export interface GatewayStatus extends TunnelStatus {
  leases: { name: string; publicKey: string; ipv4: string; ipv6: string }[];
  leaseProtocol: LeaseCounters;
  refused: { name: string; reason: string }[];
  usage: UsageEntry[];
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
    const plan = leasesFor(config, store, pools, Date.now());
    const byKey = new Map(plan.leases.map((l) => [l.publicKey, l]));
    const refused = new Map(plan.refused.map((r) => [r.publicKey, r.reason]));
    const names = new Map(config.clients.map((c) => [formatKey(c.publicKey), c.name]));
    for (const r of plan.refused)
      log.warn({ event: 'lease-refused', client: names.get(r.publicKey), reason: r.reason }, 'no lease for client');
    for (const o of plan.orphaned) {
      log.warn(
        { event: 'lease-orphaned', publicKey: o.publicKey },
        'a released client lease no longer fits the pools and was dropped',
      );
    }

    const answer = (publicKey: string): LeaseAnswer => {
      const lease = byKey.get(publicKey);
      if (lease !== undefined) return { grant: grantOf(lease, pools, config) };
      return { refused: refused.has(publicKey) ? LeaseError.PoolExhausted : LeaseError.Internal };
    };
    const traffic = new TrafficControl({
      capacity: config.uplinkCapacity,
      gatewayIpv4: gw.ipv4,
      gatewayIpv6: gw.ipv6,
      random,
      now: performance.now(),
    });
    const shaped = new Map<string, ShapedClient>(); // by base64 public key
    const leaseServer = new LeaseServer(answer, {
      quotaOf: (publicKey) => {
        const c = shaped.get(publicKey);
        return c === undefined ? null : quotaInfoOf(c);
      },
    });

    // A client that roamed: its endpoint goes to the state db, at most one write a second.
    const known = store.endpoints();
    const saved = new Map(known);
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
    for (const c of config.clients) {
      const key = formatKey(c.publicKey);
      const lease = byKey.get(key);
      const allowedIps: Cidr[] = lease
        ? [
            { family: 4, address: lease.ipv4, prefixLength: 32 },
            { family: 6, address: lease.ipv6, prefixLength: lease.ipv6PrefixLength },
          ]
        : [];
      let endpoint: Endpoint | null = null;
      const last = known.get(key);
      if (last !== undefined) {
        try {
          endpoint = parseEndpoint(last);
        } catch {
          endpoint = null;
        }
      }
      const peer = device.addPeer({
        publicKey: c.publicKey,
        presharedKey: c.presharedKey ?? undefined,
        allowedIps,
        endpoint,
      });
      // Usage resumes from the state db when its period is still the current one.
      const usage = new ClientUsage(key, c.policy, config.accountingZone, Date.now(), store.usage(key)[0]);
      shaped.set(key, traffic.add(peer, usage, performance.now()));
    }

    const slots = slotSizesFor(config.mtu); // full-size packets must fit a batch slot
    const udp: UdpBind = openListeners(config.listenPort, config.listenAddresses, (o) =>
      openUdp({ ...o, slotSize: slots.udp }),
    );
    undo.push(() => udp.close());

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
        { event: 'quota-state', client: names.get(c.usage.publicKey), state: c.usage.state, used: c.usage.used },
        `client ${names.get(c.usage.publicKey) ?? c.usage.publicKey} is ${c.usage.state}`,
      );
    });
    const checkpointUsage = () => {
      try {
        keeper.checkpoint(Date.now());
      } catch (e) {
        log.error({ event: 'usage-checkpoint-failed', err: (e as Error).message }, 'could not save usage');
      }
    };
    const usageTimer = setInterval(checkpointUsage, CHECKPOINT_INTERVAL_MS);
    undo.push(() => {
      clearInterval(usageTimer);
      checkpointUsage();
    });
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

    const status = (): GatewayStatus => ({
      ...tunnelStatus(config.interface, device, udp.port, tunnelRunner.packetErrors),
      leases: plan.leases
        .filter((l) => names.has(l.publicKey))
        .map((l) => ({
          name: names.get(l.publicKey)!,
          publicKey: l.publicKey,
          ipv4: formatIp(l.ipv4),
          ipv6: formatCidr({ family: 6, address: l.ipv6, prefixLength: l.ipv6PrefixLength }),
        })),
      leaseProtocol: { ...leaseServer.counters },
      refused: plan.refused.map((r) => ({ name: names.get(r.publicKey) ?? r.publicKey, reason: r.reason })),
      usage: usage().clients,
    });
    const usage = (): UsageReport => ({
      at: new Date().toISOString(),
      clients: [...traffic.clients()].map((c) =>
        usageEntry(names.get(c.usage.publicKey) ?? c.usage.publicKey, c.usage, {
          quota: c.quotaDrops,
          queue: c.down.drops + c.up.drops,
        }),
      ),
    });
    const control: Server = serveControl(config.interface, (req) => {
      if (req.op === 'status') return status();
      if (req.op === 'usage') return usage();
      throw new Error(`unknown op ${req.op}`);
    });
    undo.push(() => {
      control.close();
    });

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
        clients: config.clients.length,
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
