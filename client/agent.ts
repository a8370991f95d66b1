// The client agent (minimal: one gateway, no default-route handling yet).
//
//   start: TUN up without addresses → device with the gateway as its one peer
//          (allowed IPs 0.0.0.0/0 and ::/0: anything may come from the Internet)
//          → lease REQUEST inside the tunnel (it triggers the handshake)
//   lease: checked (lease-check.ts; a bad one is logged as lease-rejected and
//          nothing of it is applied), then addresses and MTU on the TUN, the
//          configured routes into it
//   run:   a timer at the lease client's next due time sends the REQUEST (retries
//          every 2 s, renewal at half the lifetime); a changed lease replaces
//          the old addresses
//   quota: QUOTA in a LEASE or a STATUS from the gateway → kept for the status,
//          logged (event quota) when its state, quota or period end changed
//   stop:  RELEASE, then the TUN and everything on it goes away, the rules,
//          sysctl and DNS put back, the state file removed
//
// `routes: [default]`: per family the lease has, a default route in a table
// of its own behind fwmark rules, as `meshgate up` (shared/host/policy-routing.ts):
// the UDP socket marks the tunnel's own packets, the mesh ranges stay in the
// main table, and with `lan: outside` so do its more specific routes. With
// `dns: true` the lease's resolvers are applied (client/dns.ts). What the
// host keeps after a SIGKILL (rules, sysctl, DNS) is written to a state file
// before it is changed (client-state.ts); the next start undoes it first.
// `killSwitch: true` puts up client/kill-switch.ts before anything else and
// keeps it, unchanged, until the stop (the lease never changes it).
// `router:` puts up client/router.ts next (NAT into the lease, the LAN only
// into the tunnel, MSS clamped; re-rendered when a lease changes the MTU) and
// then turns forwarding on with the other sysctls; both undone on stop.

import { systemRandom } from '../shared/io/random.js';
import type { CommandRunner } from '../shared/host/command.js';
import { EMPTY_HOST_STATE, HostConfigurator, type HostState } from '../shared/host/configurator.js';
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
import { formatCidr, formatIp, parseCidr, type Cidr } from '../shared/net/address.js';
import { DEFAULT_MTU, REJECT_AFTER_TIME } from '../shared/wireguard/constants.js';
import { chooseTable, DEFAULT_TABLE, defaultRouteState } from '../shared/host/policy-routing.js';
import type { CryptoBackend, RandomBytes } from '../shared/wireguard/crypto.js';
import { Device } from '../shared/wireguard/device.js';
import { loadClientConfig, type ClientConfig } from './config.js';
import { agentStatus } from './agent-status.js';
import { LEASE_LIMITS } from './lease-check.js';
import { LeaseClient } from './lease-client.js';
import { removeRecord, saveRecord, stateFileOf, undoLeftovers, type ClientHostRecord } from './client-state.js';
import { applyDns, planDns, restoreDns, type DnsRecord } from './dns.js';
import {
  applyKillSwitch,
  KILL_SWITCH_TABLE,
  lanPrefixes,
  removeKillSwitch,
  type KillSwitchState,
} from './kill-switch.js';
import { isProbeFailure, probeAddresses } from '../shared/host/probe.js';
import { applyRouter, removeRouter, ROUTER_SYSCTLS, ROUTER_TABLE } from './router.js';

const random = systemRandom;
/** The longest delay setTimeout takes; a later renewal is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Agent {
  readonly lease: () => LeaseGrant | null;
  /** The quota state the gateway last told (null: none told, or the latest LEASE carried none). */
  readonly quota: () => QuotaInfo | null;
  /** Resolves when the TUN device or the UDP socket stops for good (the daemon must end). */
  readonly failure: Promise<IoError>;
  close(): Promise<void>;
}

/** What an agent runs on: real devices from startAgent, fakes in unit tests. */
export interface AgentParts {
  config: ClientConfig;
  endpoint: Endpoint;
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

function leaseAddresses(g: LeaseGrant): Cidr[] {
  const out: Cidr[] = [];
  if (g.ipv4) out.push({ family: 4, address: g.ipv4.address, prefixLength: g.ipv4.prefixLength });
  if (g.ipv6) out.push({ family: 6, address: g.ipv6.address, prefixLength: g.ipv6.prefixLength });
  return out;
}

/** A lease in text form, for logs and the control socket. */
export function describeLease(g: LeaseGrant) {
  return {
    ipv4: g.ipv4 ? `${formatIp(g.ipv4.address)}/${g.ipv4.prefixLength}` : null,
    ipv6: g.ipv6 ? `${formatIp(g.ipv6.address)}/${g.ipv6.prefixLength}` : null,
    gateway: [g.gatewayIpv4, g.gatewayIpv6].filter((x): x is Uint8Array => x !== null).map(formatIp),
    dns: g.dns.map(formatIp),
    mtu: g.mtu,
    lifetime: g.lifetime,
  };
}

function sameLease(a: LeaseGrant | null, b: LeaseGrant): boolean {
  if (a === null) return false;
  const key = (g: LeaseGrant) => leaseAddresses(g).map(formatCidr).join(',') + `|${g.mtu}`;
  return key(a) === key(b);
}

/** Loads the config, opens the real TUN device and UDP socket, and runs the agent on them. */
export async function startAgent(configFile: string, runner: CommandRunner, log: Logger): Promise<Agent> {
  const config = loadClientConfig(configFile);
  const stateFile = stateFileOf(config.interface);
  // A kill switch left by a killed run stays up until this run's replaces it.
  await undoLeftovers(config.interface, stateFile, runner, log, { keepKillSwitch: config.killSwitch });
  const endpoint = await resolveEndpoint(config.gateway.endpoint);
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
      endpoint,
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

/**
 * What the kill switch allows (client/kill-switch.ts): the tunnel device, the
 * socket's mark, the endpoint, and with `lan: outside` the connected subnets
 * of the other interfaces as they are at start. An unreadable address list
 * allows no LAN (closed, with a warning), never more.
 */
async function killSwitchState(parts: AgentParts, mark: number): Promise<KillSwitchState> {
  const { config, endpoint, runner, log } = parts;
  let lan: Cidr[] = [];
  if (config.lan === 'outside') {
    const found = await probeAddresses(runner, config.interface);
    if (isProbeFailure(found))
      log.warn(
        { event: 'kill-switch-no-lan', err: found.error },
        'could not read the LAN: the kill switch allows none',
      );
    else lan = lanPrefixes(found, config.interface);
  }
  return {
    table: KILL_SWITCH_TABLE,
    tunnel: config.interface,
    mark,
    endpoint: { address: endpoint.address, port: endpoint.port },
    lan,
    router: config.router?.lanInterface ?? null,
  };
}

export async function runAgent(parts: AgentParts): Promise<Agent> {
  const { config, endpoint, tun, udp, runner, log } = parts;
  const rnd = parts.random ?? random;
  let applied: LeaseGrant | null = null;
  let quota: QuotaInfo | null = null;
  let applying = Promise.resolve();
  // The TUN as a lease wants it (none yet: up, without addresses); the configurator changes only the difference.
  const host = new HostConfigurator(runner);
  const table = parts.table ?? DEFAULT_TABLE;
  const hostState = (grant: LeaseGrant | null): HostState => {
    const has = (family: 4 | 6) => grant !== null && (family === 4 ? grant.ipv4 !== null : grant.ipv6 !== null);
    const families = config.defaultRoute ? ([4, 6] as const).filter(has) : [];
    const defaults = defaultRouteState(table, families, { keepMain: config.lan === 'outside', keepMesh: true });
    return {
      ...EMPTY_HOST_STATE,
      link: { name: config.interface, mtu: grant?.mtu ?? DEFAULT_MTU, up: true, owned: true },
      addresses: grant === null ? [] : leaseAddresses(grant),
      routes: [...config.routes.filter((r) => has(r.family)).map((cidr) => ({ cidr })), ...defaults.routes],
      rules: defaults.rules,
      sysctls: [...defaults.sysctls, ...(config.router !== null ? ROUTER_SYSCTLS : [])],
    };
  };

  // The record of what a SIGKILL would leave behind: written before each change.
  let dns: DnsRecord | null = null;
  let dnsServers = '';
  let killSwitch: string | null = null;
  let router: string | null = null;
  let routerMtu = 0;
  const record = (state: HostState): ClientHostRecord => {
    const originals = host.originals();
    return {
      pid: process.pid,
      interface: config.interface,
      rules: [...state.rules],
      sysctls: state.sysctls.flatMap((s) =>
        originals[s.key] === undefined ? [] : [{ key: s.key, value: s.value, original: originals[s.key]! }],
      ),
      dns,
      killSwitch,
      router,
    };
  };
  const keep = (state: HostState) => {
    if (parts.stateFile != null) saveRecord(parts.stateFile, record(state));
  };
  let appliedState = hostState(null);
  const setHost = async (state: HostState) => {
    // Rules of both the old and the new state are recorded while the change runs.
    keep({ ...state, rules: [...appliedState.rules, ...state.rules] });
    await host.set(state);
    appliedState = state;
    keep(state);
  };
  const setDns = async (grant: LeaseGrant) => {
    const servers = config.dns ? grant.dns : [];
    const text = servers.map(formatIp).join(' ');
    if (text === dnsServers) return;
    if (servers.length === 0) {
      if (dns !== null) await restoreDns(dns, runner);
      dns = null;
    } else {
      dns ??= planDns(config.interface, parts.resolvConf);
      keep(appliedState);
      await applyDns(dns, servers, runner);
      log.info({ event: 'dns', servers: servers.map(formatIp), via: dns.kind }, `DNS: ${text} (${dns.kind})`);
    }
    dnsServers = text;
  };
  const resetHost = async () => {
    await host.reset().catch((e: unknown) => {
      log.warn({ event: 'cleanup-failed', err: (e as Error).message }, 'could not undo every host change');
    });
    if (dns !== null)
      await restoreDns(dns, runner).catch((e: unknown) => {
        log.warn({ event: 'cleanup-failed', err: (e as Error).message }, 'could not put DNS back');
      });
    dns = null;
    if (router !== null)
      await removeRouter(runner, router).then(
        () => (router = null),
        (e: unknown) =>
          log.warn({ event: 'cleanup-failed', err: (e as Error).message }, 'could not remove the router table'),
      );
    if (killSwitch !== null)
      await removeKillSwitch(runner, killSwitch).then(
        () => (killSwitch = null),
        (e: unknown) =>
          log.warn({ event: 'cleanup-failed', err: (e as Error).message }, 'could not remove the kill switch'),
      );
    if (parts.stateFile != null && killSwitch === null && router === null) removeRecord(parts.stateFile);
  };
  // The kill switch: recorded first, then up, before the TUN gets anything.
  const raiseKillSwitch = async () => {
    const state = await killSwitchState(parts, table);
    killSwitch = state.table;
    keep(appliedState);
    await applyKillSwitch(runner, state);
    log.info(
      { event: 'kill-switch', table: state.table, lan: state.lan.map(formatCidr) },
      `kill switch up: nothing leaves outside ${config.interface} but to ${endpoint.key}, the mesh and the LAN allowed`,
    );
  };

  // The router table: recorded first, then up (again when the tunnel MTU changes).
  const setRouter = async (mtu: number) => {
    if (config.router === null || mtu === routerMtu) return;
    router = ROUTER_TABLE;
    keep(appliedState);
    await applyRouter(runner, { table: ROUTER_TABLE, tunnel: config.interface, lan: config.router.lanInterface, mtu });
    routerMtu = mtu;
    log.info(
      { event: 'router', table: ROUTER_TABLE, lan: config.router.lanInterface, mtu },
      `routing ${config.router.lanInterface} into ${config.interface} (NAT, MSS for MTU ${mtu})`,
    );
  };

  const apply = (grant: LeaseGrant) => {
    if (sameLease(applied, grant)) {
      log.debug({ event: 'lease-renewed' }, 'lease renewed');
      // Same addresses, other DNS servers: only those change.
      if (config.dns && grant.dns.map(formatIp).join(' ') !== applied!.dns.map(formatIp).join(' ')) {
        applied = grant;
        applying = applying.then(() =>
          setDns(grant).catch((e: unknown) =>
            log.error({ event: 'dns-failed', err: (e as Error).message }, 'could not apply the DNS servers'),
          ),
        );
      }
      return;
    }
    const previous = applied;
    applied = grant;
    applying = applying.then(async () => {
      try {
        await setRouter(grant.mtu ?? DEFAULT_MTU);
        await setHost(hostState(grant));
        await setDns(grant);
        log.info(
          {
            event: 'lease',
            ...describeLease(grant),
            routes: [...(config.defaultRoute ? ['default'] : []), ...config.routes.map(formatCidr)],
          },
          'lease applied',
        );
        if (previous === null)
          log.info(
            { event: 'ready', interface: config.interface, aead: device.crypto.aead.name },
            `client ${config.interface} is up`,
          );
      } catch (e) {
        log.error({ event: 'lease-apply-failed', err: (e as Error).message }, 'could not apply the lease');
        applied = previous;
      }
    });
  };

  const takeQuota = (q: QuotaInfo | null) => {
    const previous = quota;
    quota = q;
    if (q === null || !quotaChanged(previous, q)) return;
    const s = quotaStatus(q);
    const line = { event: 'quota', ...s };
    if (q.state === 'ok') log.info(line, `quota: ${renderQuota(s)}`);
    else log.warn(line, `quota: ${renderQuota(s)}`);
  };

  const leaseClient = new LeaseClient(
    rnd,
    {
      onLease: (grant) => {
        apply(grant);
        scheduleRequest();
      },
      onRefused: (code) => log.warn({ event: 'lease-refused', code }, 'the gateway refused a lease'),
      onBadLease: (problem, grant) =>
        log.warn(
          {
            event: 'lease-rejected',
            code: problem.code,
            detail: problem.detail,
            lease: describeLease(grant),
            kept: applied !== null,
          },
          `refused a bad lease from the gateway (${problem.code}): ${problem.detail}`,
        ),
      onQuota: takeQuota,
    },
    { endpoint: endpoint.address },
  );
  const device = new Device({
    privateKey: config.privateKey,
    random: rnd,
    mtu: DEFAULT_MTU,
    ...(parts.crypto ? { crypto: parts.crypto } : {}),
    control: leaseClient.handle,
  });
  const gateway = device.addPeer({
    publicKey: config.gateway.publicKey,
    presharedKey: config.gateway.presharedKey ?? undefined,
    allowedIps: [parseCidr('0.0.0.0/0'), parseCidr('::/0')],
    endpoint,
    persistentKeepalive: config.persistentKeepalive,
  });
  const clock = parts.clock ?? systemClock;
  const tunnelRunner = new TunnelRunner(device, tun, udp, { log, clock });

  // The REQUEST goes out when the lease client says it is due; a lease moves that to its renewal.
  let requestTimer: NodeJS.Timeout | null = null;
  let closed = false;
  const scheduleRequest = () => {
    if (requestTimer !== null) clearTimeout(requestTimer);
    requestTimer = null;
    if (closed) return;
    const delay = Math.max(0, leaseClient.nextRequestAt() - clock.now().mono);
    requestTimer = setTimeout(sendRequest, Math.min(delay, MAX_TIMER_MS));
  };
  const sendRequest = () => {
    tunnelRunner.sendOutsideBatch((d, now, sink) => {
      const request = leaseClient.requestIfDue(now.mono);
      if (request !== null) d.sendPacket(gateway, request, now, sink);
    });
    scheduleRequest();
  };

  try {
    if (config.killSwitch) await raiseKillSwitch();
    await setRouter(DEFAULT_MTU);
    await setHost(hostState(null));
  } catch (e) {
    tunnelRunner.stop();
    await resetHost();
    throw e;
  }
  tunnelRunner.start();
  sendRequest();
  // The agent's part of the status (client/agent-status.ts).
  const statusOfAgent = () => {
    const now = clock.now().mono;
    const lease = leaseClient.lease;
    const session = gateway.current;
    return agentStatus({
      gateway: {
        publicKey: gateway.keyText,
        endpoint: endpoint.key,
        session: session !== null && now - session.createdAt < REJECT_AFTER_TIME,
        lastHandshakeWall: gateway.lastHandshakeWall,
      },
      rxBytes: gateway.rxBytes,
      txBytes: gateway.txBytes,
      lease: applied ? describeLease(applied) : null,
      leaseExpiresAt: lease === null ? now : leaseClient.renewAt() + (lease.lifetime * 1000) / 2,
      now,
      dns: dns !== null && dnsServers !== '' ? dns.kind : null,
      defaultRoute: config.defaultRoute,
      table,
      lan: config.lan,
      killSwitchTable: killSwitch,
    });
  };
  const control = (parts.serve ?? serveControl)(config.interface, (req) => {
    if (req.op === 'status')
      return {
        ...tunnelStatus(config.interface, device, udp.port, tunnelRunner.packetErrors),
        lease: applied ? describeLease(applied) : null,
        quota: quota ? quotaStatus(quota) : null,
        agent: statusOfAgent(),
      };
    throw new Error(`unknown op ${req.op}`);
  });

  log.info({ event: 'started', interface: config.interface, gateway: endpoint.key }, 'asking the gateway for a lease');
  return {
    lease: () => applied,
    quota: () => quota,
    failure: tunnelRunner.failure,
    close: async () => {
      closed = true;
      scheduleRequest();
      if (leaseClient.lease !== null) {
        tunnelRunner.sendOutsideBatch((d, now, sink) => d.sendPacket(gateway, leaseClient.release(), now, sink));
      }
      await applying;
      control.close();
      tunnelRunner.stop();
      await resetHost();
    },
  };
}
