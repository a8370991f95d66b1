// The client agent: one TUN device, one WireGuard device, a peer per gateway.
//
//   start: TUN up without addresses → device with every configured gateway as
//          a peer (client/gateway-links.ts) → a lease REQUEST to each inside
//          the tunnel (it triggers the handshake)
//   lease: checked (lease-check.ts; a bad one is logged as lease-rejected and
//          nothing of it is applied) and held per gateway; the lease of the
//          gateway routed through goes on the host: addresses and MTU on the
//          TUN, the configured routes into it
//   run:   a timer at the lease clients' next due time sends the REQUESTs (retries
//          every 2 s, renewal at half the lifetime); a changed lease replaces
//          the old addresses
//   failover: with several gateways a PROBE to each every probeInterval; their
//          HEALTH answers (round trip, uplink state) go to client/failover.ts,
//          which says when to route through another gateway: the allowed IPs
//          0.0.0.0/0 and ::/0 move to its peer, its lease replaces the old one
//          on the host (addresses, routes, DNS) while the kill switch, which
//          allows every gateway's endpoints, stays as it is
//   quota: QUOTA in a LEASE or a STATUS from the gateway → kept for the status,
//          logged (event quota) when its state, quota or period end changed
//   stop:  RELEASE, then the TUN and everything on it goes away, the rules,
//          sysctl and DNS put back, the state file removed
//
// What goes on the host is client/lease-host.ts's: `routes: [default]`, per
// family the lease has, a default route in a table of its own behind fwmark
// rules, as `meshgate up` (shared/host/policy-routing.ts): the UDP socket marks
// the tunnel's own packets (to every gateway), the mesh ranges stay in the main
// table, and with `lan: outside` so do its more specific routes; `dns: true`,
// `killSwitch: true` (up before anything else, unchanged until the stop) and
// `router:`. What a SIGKILL would leave is in a state file (client-state.ts);
// the next start undoes it first.

import { systemRandom } from '../shared/io/random.js';
import type { CommandRunner } from '../shared/host/command.js';
import { resolveEndpoint } from '../shared/io/endpoint.js';
import { daemonCrypto } from '../shared/io/native-aead.js';
import type { IoError } from '../shared/io/io-error.js';
import { openTun } from '../shared/io/tun.js';
import type { Endpoint, TunDevice, UdpBind } from '../shared/io/types.js';
import { openUdp } from '../shared/io/udp.js';
import { serveControl, type ControlHandler } from '../shared/control/socket.js';
import { quotaChanged, quotaStatus, renderQuota } from '../shared/control/quota-status.js';
import { tunnelStatus } from '../shared/control/status.js';
import type { LeaseGrant, QuotaInfo } from '../shared/lease/message.js';
import type { Logger } from '../shared/log.js';
import { systemClock, TunnelRunner, type Clock } from '../shared/runner/runner.js';
import { slotSizesFor } from '../shared/runner/slots.js';
import { DEFAULT_MTU, REJECT_AFTER_TIME } from '../shared/wireguard/constants.js';
import { chooseTable, DEFAULT_TABLE } from '../shared/host/policy-routing.js';
import type { CryptoBackend, RandomBytes } from '../shared/wireguard/crypto.js';
import { Device } from '../shared/wireguard/device.js';
import { loadClientConfig, type ClientConfig } from './config.js';
import { agentStatus } from './agent-status.js';
import { LEASE_LIMITS } from './lease-check.js';
import { Failover, type FailoverDecision } from './failover.js';
import {
  addGatewayLinks,
  describeLease,
  EVERYTHING,
  linkControl,
  resolveGatewayEndpoints,
  retryUnresolved,
  type GatewayLink,
} from './gateway-links.js';
import { stateFileOf, undoLeftovers } from './client-state.js';
import { LeaseHost } from './lease-host.js';

const random = systemRandom;
/** The longest delay setTimeout takes; a later renewal is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export { describeLease };

/** How often the failover state is looked at (probes go out every probeInterval). */
const EVALUATE_MS = 250;
/** How often the kill switch's LAN is compared with the host's (lease-host.ts refreshKillSwitch). */
const KILL_SWITCH_REFRESH_MS = 5_000;

export interface Agent {
  readonly lease: () => LeaseGrant | null;
  /** The name of the gateway routed through (null before the first). */
  readonly gateway: () => string | null;
  /** The quota state the gateway last told (null: none told, or the latest LEASE carried none). */
  readonly quota: () => QuotaInfo | null;
  /** Resolves when the TUN device or the UDP socket stops for good (the daemon must end). */
  readonly failure: Promise<IoError>;
  close(): Promise<void>;
}

/** What an agent runs on: real devices from startAgent, fakes in unit tests. */
export interface AgentParts {
  config: ClientConfig;
  /** Each gateway's endpoints, resolved, in the configured order (null: a name that did not resolve). */
  endpoints: readonly (readonly (Endpoint | null)[])[];
  /** Resolves an endpoint name again (default resolveEndpoint). */
  resolve?: (text: string) => Promise<Endpoint>;
  tun: TunDevice;
  udp: UdpBind;
  runner: CommandRunner;
  log: Logger;
  clock?: Clock;
  random?: RandomBytes;
  /** ChaCha20-Poly1305, X25519, BLAKE2s (default node:crypto and @noble; startAgent passes the addon's). */
  crypto?: CryptoBackend;
  /** The control socket (default: serveControl). */
  serve?: (name: string, handle: ControlHandler) => { close(): void };
  /** The table (and the UDP socket's mark) for `routes: [default]`; default DEFAULT_TABLE. */
  table?: number;
  /** Where the host changes are recorded (client-state.ts); null: nowhere (unit tests). */
  stateFile?: string | null;
  /** The resolv.conf to change with `dns: true` (default /etc/resolv.conf). */
  resolvConf?: string;
}

/** Loads the config, opens the real TUN device and UDP socket, and runs the agent on them. */
export async function startAgent(configFile: string, runner: CommandRunner, log: Logger): Promise<Agent> {
  const config = loadClientConfig(configFile);
  const stateFile = stateFileOf(config.interface);
  // A kill switch left by a killed run stays up until this run's replaces it.
  await undoLeftovers(config.interface, stateFile, runner, log, { keepKillSwitch: config.killSwitch });
  const endpoints = await resolveGatewayEndpoints(config, log);
  // The tunnel's own packets carry the table's number as their mark (as wg-quick).
  const table = config.defaultRoute ? await chooseTable(runner, null) : undefined;
  // Slots for the largest MTU a lease may bring: the gateway sends packets of its MTU.
  const slots = slotSizesFor(LEASE_LIMITS.mtuMax);
  const udp = openUdp({ port: 0, slotSize: slots.udp, ...(table !== undefined ? { mark: table } : {}) });
  let tun;
  try {
    tun = openTun(config.interface, { slotSize: slots.tun });
  } catch (e) {
    udp.close();
    throw e;
  }
  try {
    return await runAgent({
      config,
      endpoints,
      tun,
      udp,
      runner,
      log,
      crypto: daemonCrypto(),
      stateFile,
      ...(table !== undefined ? { table } : {}),
    });
  } catch (e) {
    tun.close();
    udp.close();
    throw e;
  }
}

export async function runAgent(parts: AgentParts): Promise<Agent> {
  const { config, tun, udp, runner, log } = parts;
  const rnd = parts.random ?? random;
  let quota: QuotaInfo | null = null;
  const table = parts.table ?? DEFAULT_TABLE;
  const leaseHost = new LeaseHost({
    config,
    runner,
    log,
    table,
    endpoints: parts.endpoints,
    stateFile: parts.stateFile,
    resolvConf: parts.resolvConf,
  });
  const ready = () =>
    log.info(
      { event: 'ready', interface: config.interface, aead: device.crypto.aead.name },
      `client ${config.interface} is up`,
    );

  const takeQuota = (q: QuotaInfo | null) => {
    const previous = quota;
    quota = q;
    if (q === null || !quotaChanged(previous, q)) return;
    const s = quotaStatus(q);
    const line = { event: 'quota', ...s };
    if (q.state === 'ok') log.info(line, `quota: ${renderQuota(s)}`);
    else log.warn(line, `quota: ${renderQuota(s)}`);
  };

  const clock = parts.clock ?? systemClock;
  const links: GatewayLink[] = [];
  const failover = new Failover(
    // Each gateway starts at its first endpoint that resolved.
    config.gateways.map((g, i) => ({
      priority: g.priority,
      endpoints: g.endpoints.length,
      endpoint: Math.max(
        0,
        parts.endpoints[i]!.findIndex((e) => e !== null),
      ),
    })),
    config.failover,
    clock.now().mono,
  );
  const several = config.gateways.length > 1;
  const named = (link: GatewayLink) => (several ? ` ${link.config.name}` : '');
  const currentLink = () => (failover.current === null ? null : links[failover.current]!);
  let switches = 0;
  let lastSwitch: { from: string | null; to: string; reason: string; at: string } | null = null;

  // Routing through another gateway: its peer takes the allowed IPs, its lease the host.
  const switchTo = (s: NonNullable<FailoverDecision['switchTo']>) => {
    const to = links[s.gateway]!;
    const from = s.from === null ? null : links[s.from]!;
    if (from !== null) device.setAllowedIps(from.peer, []);
    device.setAllowedIps(to.peer, EVERYTHING);
    switches++;
    const record = {
      from: from?.config.name ?? null,
      to: to.config.name,
      reason: s.reason,
      at: new Date().toISOString(),
    };
    lastSwitch = record;
    takeQuota(to.quota);
    const grant = to.leases.lease!;
    const started = clock.now().mono;
    void leaseHost.apply(grant, ready).then(() => {
      const line = {
        event: 'gateway-switch',
        ...record,
        ipv4: describeLease(grant).ipv4,
        ipv6: describeLease(grant).ipv6,
        tookMs: Math.round(clock.now().mono - started),
      };
      const text = `routing through gateway ${to.config.name}${from === null ? '' : ` instead of ${from.config.name}`} (${s.reason})`;
      if (s.reason === 'start' || s.reason === 'preferred' || s.reason === 'faster') log.info(line, text);
      else log.warn(line, text);
    });
  };

  const resolve = parts.resolve ?? ((text: string) => resolveEndpoint(text));
  /** The gateway's endpoint number `index` in use (an unresolved one: none until it resolves). */
  const useEndpoint = (link: GatewayLink, index: number) => {
    const endpoint = link.endpoints[index] ?? null;
    link.peer.endpoint = endpoint;
    const text = endpoint?.key ?? link.config.endpoints[index]!;
    log.info(
      { event: 'gateway-endpoint', gateway: link.config.name, endpoint: text, resolved: endpoint !== null },
      `gateway ${link.config.name}: trying ${text}${endpoint === null ? ' (not resolved yet)' : ''}`,
    );
  };

  const evaluate = () => {
    if (closed) return;
    const now = clock.now().mono;
    // A lease that ran out (renewals refused or unanswered) is none.
    for (const link of links) failover.lease(link.index, link.leases.validAt(now));
    const d = failover.evaluate(now);
    for (const c of d.changes) {
      const link = links[c.gateway]!;
      const line = { event: 'gateway-health', gateway: link.config.name, state: c.healthy ? 'up' : 'down' };
      // One gateway: health is only "holds a lease", told by the lease lines.
      if (!several) continue;
      if (c.healthy) log.info(line, `gateway ${link.config.name} is up`);
      else log.warn({ ...line, reason: c.reason }, `gateway ${link.config.name} is down (${c.reason})`);
    }
    for (const i of d.retry) {
      const link = links[i]!;
      if (d.rotate.includes(i)) useEndpoint(link, failover.health(i).endpoint);
      // Names that did not resolve: asked again; one that does is used if it is the one in turn.
      retryUnresolved(link, log, resolve, (index) => {
        if (failover.health(i).endpoint === index) useEndpoint(link, index);
      });
      // A restarted gateway has lost the session: a new handshake (at most one per Rekey-Timeout).
      tunnelRunner.sendOutsideBatch((dev, t, sink) => dev.initiateHandshake(link.peer, t, sink));
    }
    if (d.switchTo !== null) switchTo(d.switchTo);
  };

  const device = new Device({
    privateKey: config.privateKey,
    random: rnd,
    mtu: DEFAULT_MTU,
    ...(parts.crypto ? { crypto: parts.crypto } : {}),
    control: linkControl(links),
  });
  addGatewayLinks(device, config, parts.endpoints, rnd, links, {
    onLease: (link, grant) => {
      failover.heard(link.index, clock.now().mono);
      if (failover.current === link.index) void leaseHost.apply(grant, ready);
      scheduleRequest();
      evaluate();
    },
    onRefused: (link, code) => {
      failover.heard(link.index, clock.now().mono);
      log.warn({ event: 'lease-refused', code, gateway: link.config.name }, `gateway${named(link)} refused a lease`);
    },
    onBadLease: (link, problem, grant) =>
      log.warn(
        {
          event: 'lease-rejected',
          gateway: link.config.name,
          code: problem.code,
          detail: problem.detail,
          lease: describeLease(grant),
          kept: link.leases.lease !== null,
        },
        `refused a bad lease from gateway${named(link)} (${problem.code}): ${problem.detail}`,
      ),
    onQuota: (link, q) => {
      failover.heard(link.index, clock.now().mono);
      if (failover.current === link.index) takeQuota(q);
    },
    onHealth: (link, up, rtt, now) => {
      failover.answer(link.index, up, rtt, now);
      evaluate();
    },
  });
  const tunnelRunner = new TunnelRunner(device, tun, udp, { log, clock });

  // The REQUESTs go out when a lease client says one is due; a lease moves that to its renewal.
  let requestTimer: NodeJS.Timeout | null = null;
  let closed = false;
  const scheduleRequest = () => {
    if (requestTimer !== null) clearTimeout(requestTimer);
    requestTimer = null;
    if (closed) return;
    const due = Math.min(...links.map((l) => l.leases.nextRequestAt()));
    const delay = Math.max(0, due - clock.now().mono);
    requestTimer = setTimeout(sendRequest, Math.min(delay, MAX_TIMER_MS));
  };
  const sendRequest = () => {
    tunnelRunner.sendOutsideBatch((d, now, sink) => {
      for (const link of links) {
        const request = link.leases.requestIfDue(now.mono);
        if (request !== null) d.sendPacket(link.peer, request, now, sink);
      }
    });
    scheduleRequest();
  };
  // A PROBE to each gateway every probeInterval, the state looked at every EVALUATE_MS.
  let nextProbeAt = -Infinity;
  const failoverTick = () => {
    if (clock.now().mono >= nextProbeAt) {
      tunnelRunner.sendOutsideBatch((d, now, sink) => {
        nextProbeAt = now.mono + config.failover.probeIntervalMs;
        for (const link of links) d.sendPacket(link.peer, link.leases.probe(now.mono), now, sink);
      });
    }
    evaluate();
  };
  const failoverTimer = setInterval(failoverTick, Math.min(EVALUATE_MS, config.failover.probeIntervalMs));

  try {
    await leaseHost.start();
  } catch (e) {
    clearInterval(failoverTimer);
    tunnelRunner.stop();
    await leaseHost.reset();
    throw e;
  }
  const killSwitchTimer = config.killSwitch
    ? setInterval(() => {
        leaseHost
          .refreshKillSwitch()
          .catch((e: unknown) =>
            log.warn({ event: 'kill-switch-failed', err: (e as Error).message }, 'could not update the kill switch'),
          );
      }, KILL_SWITCH_REFRESH_MS)
    : null;
  tunnelRunner.start();
  sendRequest();
  failoverTick();
  // The agent's part of the status (client/agent-status.ts).
  const statusOfAgent = () => {
    const now = clock.now().mono;
    const current = currentLink();
    const lease = current?.leases.lease ?? null;
    return agentStatus({
      gateways: links.map((link) => {
        const h = failover.health(link.index);
        const session = link.peer.current;
        const held = link.leases.lease;
        return {
          name: link.config.name,
          publicKey: link.peer.keyText,
          endpoint: link.peer.endpoint?.key ?? link.config.endpoints[failover.health(link.index).endpoint]!,
          endpoints: link.endpoints.map((e, i) => e?.key ?? link.config.endpoints[i]!),
          priority: link.config.priority,
          current: link === current,
          session: session !== null && now - session.createdAt < REJECT_AFTER_TIME,
          lastHandshakeWall: link.peer.lastHandshakeWall,
          healthy: h.healthy,
          uplinkUp: h.uplinkUp,
          rttMs: h.rttMs,
          lease: held === null ? null : { ipv4: describeLease(held).ipv4, ipv6: describeLease(held).ipv6 },
        };
      }),
      failover: { switches, last: lastSwitch },
      rxBytes: links.reduce((n, l) => n + l.peer.rxBytes, 0),
      txBytes: links.reduce((n, l) => n + l.peer.txBytes, 0),
      lease: leaseHost.applied ? describeLease(leaseHost.applied) : null,
      leaseExpiresAt: lease === null || current === null ? now : current.leases.renewAt() + (lease.lifetime * 1000) / 2,
      now,
      dns: leaseHost.dnsKind,
      defaultRoute: config.defaultRoute,
      table,
      lan: config.lan,
      killSwitchTable: leaseHost.killSwitchTable,
    });
  };
  const control = (parts.serve ?? serveControl)(config.interface, (req) => {
    if (req.op === 'status')
      return {
        ...tunnelStatus(config.interface, device, udp.port, tunnelRunner.packetErrors),
        lease: leaseHost.applied ? describeLease(leaseHost.applied) : null,
        quota: quota ? quotaStatus(quota) : null,
        agent: statusOfAgent(),
      };
    throw new Error(`unknown op ${req.op}`);
  });

  log.info(
    {
      event: 'started',
      interface: config.interface,
      gateways: links.map((l) => ({
        name: l.config.name,
        endpoint: l.endpoints[0]?.key ?? l.config.endpoints[0]!,
        priority: l.config.priority,
      })),
    },
    several ? `asking ${links.length} gateways for a lease` : 'asking the gateway for a lease',
  );
  return {
    lease: () => leaseHost.applied,
    gateway: () => currentLink()?.config.name ?? null,
    quota: () => quota,
    failure: tunnelRunner.failure,
    close: async () => {
      closed = true;
      scheduleRequest();
      clearInterval(failoverTimer);
      if (killSwitchTimer !== null) clearInterval(killSwitchTimer);
      tunnelRunner.sendOutsideBatch((d, now, sink) => {
        for (const link of links)
          if (link.leases.lease !== null) d.sendPacket(link.peer, link.leases.release(), now, sink);
      });
      await leaseHost.settled();
      control.close();
      tunnelRunner.stop();
      await leaseHost.reset();
    },
  };
}
