// What the agent puts on the host for the lease it routes through, and takes
// off again: the one place that changes the machine.
//
//   start()   kill switch (killSwitch: true) → router table (router:) → the
//             TUN up without addresses, sysctls
//   apply(g)  a lease: router MSS for its MTU → addresses, MTU, routes and the
//             default-route rules (HostConfigurator changes only the
//             difference, so a switch to another gateway's lease swaps the
//             addresses and leaves the rest) → DNS. Serialized: one change at a
//             time, in the order asked; a renewal with the same addresses only
//             updates DNS servers that changed
//   reset()   everything undone, the state file removed
//
// Router with ipv6: routed and a /64 lease: the /64 is the LAN's, not the
// TUN's: its ::1 goes on the LAN interface (for the router's own daemon to
// advertise), the TUN gets the IPv4 address only, and the router table NATs
// no source inside the /64. A /128 lease falls back to NAT66.
//
// Each change is first written to the state file (client-state.ts), so what
// a SIGKILL leaves behind is undone by the next start or `meshgate client down`.

import type { CommandRunner } from '../shared/host/command.js';
import { EMPTY_HOST_STATE, HostConfigurator, type HostState } from '../shared/host/configurator.js';
import { defaultRouteState } from '../shared/host/policy-routing.js';
import { isProbeFailure, probeAddresses } from '../shared/host/probe.js';
import type { Endpoint } from '../shared/io/types.js';
import type { LeaseGrant } from '../shared/lease/message.js';
import type { Logger } from '../shared/log.js';
import { formatCidr, formatIp, type Cidr } from '../shared/net/address.js';
import { DEFAULT_MTU } from '../shared/wireguard/constants.js';
import { currentBootId, removeRecord, saveRecord, type ClientHostRecord } from './client-state.js';
import type { ClientConfig } from './config.js';
import { applyDns, planDns, restoreDns, type DnsRecord } from './dns.js';
import { describeLease, resolvedOf } from './gateway-links.js';
import {
  applyKillSwitch,
  KILL_SWITCH_TABLE,
  lanPrefixes,
  removeKillSwitch,
  updateKillSwitchLan,
  type KillSwitchState,
} from './kill-switch.js';
import { applyRouter, removeRouter, ROUTED_PREFIX_LENGTH, ROUTER_SYSCTLS, ROUTER_TABLE } from './router.js';
import { addressArgs } from '../shared/host/ip.js';

export interface LeaseHostOptions {
  config: ClientConfig;
  runner: CommandRunner;
  log: Logger;
  /** The policy-routing table of the default route (and the tunnel socket's mark). */
  table: number;
  /** Every gateway's endpoints (null: not resolved): the kill switch lets the tunnel's packets to them out. */
  endpoints: readonly (readonly (Endpoint | null)[])[];
  /** Where the host changes are recorded (client-state.ts); null: nowhere (unit tests). */
  stateFile?: string | null | undefined;
  /** The resolv.conf to change with `dns: true` (default /etc/resolv.conf). */
  resolvConf?: string | undefined;
}

function leaseAddresses(g: LeaseGrant): Cidr[] {
  const out: Cidr[] = [];
  if (g.ipv4) out.push({ family: 4, address: g.ipv4.address, prefixLength: g.ipv4.prefixLength });
  if (g.ipv6) out.push({ family: 6, address: g.ipv6.address, prefixLength: g.ipv6.prefixLength });
  return out;
}

function sameLease(a: LeaseGrant | null, b: LeaseGrant): boolean {
  if (a === null) return false;
  const key = (g: LeaseGrant) => leaseAddresses(g).map(formatCidr).join(',') + `|${g.mtu}`;
  return key(a) === key(b);
}

const dnsText = (g: LeaseGrant) => g.dns.map(formatIp).join(' ');
const lanKey = (lan: readonly Cidr[]) => lan.map(formatCidr).sort().join(',');

/** The /64 a routed LAN gets from this lease; null: NAT66 (not routed, or a lease that is no /64). */
function routedPrefix(config: ClientConfig, grant: LeaseGrant | null): Cidr | null {
  if (config.router?.ipv6 !== 'routed' || grant?.ipv6?.prefixLength !== ROUTED_PREFIX_LENGTH) return null;
  const address = grant.ipv6.address.slice();
  address.fill(0, ROUTED_PREFIX_LENGTH / 8);
  return { family: 6, address, prefixLength: ROUTED_PREFIX_LENGTH };
}

/** The router's address in a routed /64: its ::1. */
function lanAddressIn(prefix: Cidr): Cidr {
  const address = prefix.address.slice();
  address[15] = 1;
  return { family: 6, address, prefixLength: prefix.prefixLength };
}

export class LeaseHost {
  /** The lease on the host (null: none yet, or the first failed). */
  private appliedLease: LeaseGrant | null = null;
  private applying = Promise.resolve();
  private readonly host: HostConfigurator;
  private appliedState: HostState;
  private dns: DnsRecord | null = null;
  private dnsServers = '';
  private killSwitch: string | null = null;
  private router: string | null = null;
  private routerKey = '';
  /** The routed /64's ::1 on the LAN interface (ipv6: routed). */
  private lanAddress: Cidr | null = null;
  private warnedNat66 = false;
  /** The LAN the kill switch allows now, as text; refreshKillSwitch compares with it. */
  private killSwitchLan = '';
  private readonly bootId = currentBootId();
  /** A refresh under way (reset waits for it, so it cannot put the table back after). */
  private refreshing: Promise<void> | null = null;

  constructor(private readonly o: LeaseHostOptions) {
    this.host = new HostConfigurator(o.runner);
    this.appliedState = this.stateFor(null);
  }

  get applied(): LeaseGrant | null {
    return this.appliedLease;
  }

  /** Where the lease's DNS servers went; null: not applied. */
  get dnsKind(): DnsRecord['kind'] | null {
    return this.dns !== null && this.dnsServers !== '' ? this.dns.kind : null;
  }

  /** The kill switch's nftables table while it is up. */
  get killSwitchTable(): string | null {
    return this.killSwitch;
  }

  /** The TUN as a lease wants it (none: up, without addresses). */
  private stateFor(grant: LeaseGrant | null): HostState {
    const { config, table } = this.o;
    const has = (family: 4 | 6) => grant !== null && (family === 4 ? grant.ipv4 !== null : grant.ipv6 !== null);
    const families = config.defaultRoute ? ([4, 6] as const).filter(has) : [];
    const defaults = defaultRouteState(table, families, { keepMain: config.lan === 'outside', keepMesh: true });
    return {
      ...EMPTY_HOST_STATE,
      link: { name: config.interface, mtu: grant?.mtu ?? DEFAULT_MTU, up: true, owned: true },
      // A routed /64 belongs to the LAN, not to the TUN.
      addresses:
        grant === null ? [] : leaseAddresses(grant).filter((a) => a.family === 4 || !routedPrefix(config, grant)),
      routes: [...config.routes.filter((r) => has(r.family)).map((cidr) => ({ cidr })), ...defaults.routes],
      rules: defaults.rules,
      sysctls: [...defaults.sysctls, ...(config.router !== null ? ROUTER_SYSCTLS : [])],
    };
  }

  /** The record of what a SIGKILL would leave behind: written before each change. */
  private keep(state: HostState, lanAddresses: Cidr[] = this.lanAddress === null ? [] : [this.lanAddress]): void {
    if (this.o.stateFile == null) return;
    const originals = this.host.originals();
    const record: ClientHostRecord = {
      pid: process.pid,
      bootId: this.bootId,
      interface: this.o.config.interface,
      rules: [...state.rules],
      sysctls: state.sysctls.flatMap((s) =>
        originals[s.key] === undefined ? [] : [{ key: s.key, value: s.value, original: originals[s.key]! }],
      ),
      dns: this.dns,
      killSwitch: this.killSwitch,
      router: this.router,
      lanAddresses: lanAddresses.map((a) => ({ device: this.o.config.router!.lanInterface, cidr: formatCidr(a) })),
    };
    saveRecord(this.o.stateFile, record);
  }

  private async setHost(state: HostState): Promise<void> {
    // Rules of both the old and the new state are recorded while the change runs.
    this.keep({ ...state, rules: [...this.appliedState.rules, ...state.rules] });
    await this.host.set(state);
    this.appliedState = state;
    this.keep(state);
  }

  private async setDns(grant: LeaseGrant): Promise<void> {
    const { config, runner, log } = this.o;
    const servers = config.dns ? grant.dns : [];
    const text = servers.map(formatIp).join(' ');
    if (text === this.dnsServers) return;
    if (servers.length === 0) {
      if (this.dns !== null) await restoreDns(this.dns, runner);
      this.dns = null;
    } else {
      this.dns ??= planDns(config.interface, this.o.resolvConf);
      this.keep(this.appliedState);
      await applyDns(this.dns, servers, runner);
      log.info({ event: 'dns', servers: servers.map(formatIp), via: this.dns.kind }, `DNS: ${text} (${this.dns.kind})`);
    }
    this.dnsServers = text;
  }

  /**
   * What the kill switch allows (client/kill-switch.ts): the tunnel device, the
   * socket's mark, every gateway's endpoints, and with `lan: outside` the
   * connected subnets of the other interfaces as they are at start. An
   * unreadable address list allows no LAN (closed, with a warning), never more.
   */
  private async killSwitchState(): Promise<KillSwitchState | null> {
    const { config, runner, log } = this.o;
    let lan: Cidr[] = [];
    if (config.lan === 'outside') {
      const found = await probeAddresses(runner, config.interface);
      if (isProbeFailure(found)) {
        // At start: closed (no LAN); on a refresh: the table stays as it is.
        if (this.killSwitch !== null) return null;
        log.warn(
          { event: 'kill-switch-no-lan', err: found.error },
          'could not read the LAN: the kill switch allows none',
        );
      } else lan = lanPrefixes(found, config.interface);
    }
    return {
      table: KILL_SWITCH_TABLE,
      tunnel: config.interface,
      mark: this.o.table,
      // An endpoint resolved later is covered by the socket's mark.
      endpoints: resolvedOf(this.o.endpoints).map((e) => ({ address: e.address, port: e.port })),
      lan,
      router: config.router?.lanInterface ?? null,
    };
  }

  /** The kill switch: recorded first, then up, before the TUN gets anything. */
  private async raiseKillSwitch(): Promise<void> {
    const state = (await this.killSwitchState())!;
    this.killSwitch = state.table;
    this.keep(this.appliedState);
    await applyKillSwitch(this.o.runner, state);
    this.killSwitchLan = lanKey(state.lan);
    this.o.log.info(
      { event: 'kill-switch', table: state.table, lan: state.lan.map(formatCidr) },
      `kill switch up: nothing leaves outside ${this.o.config.interface} but to the gateways, the mesh and the LAN allowed`,
    );
  }

  /** The router table: recorded first, then up (again when the tunnel MTU or the routed /64 changes). */
  private async setRouter(mtu: number, routed6: Cidr | null): Promise<void> {
    const { config, runner, log } = this.o;
    const key = `${mtu}|${routed6 === null ? '' : formatCidr(routed6)}`;
    if (config.router === null || key === this.routerKey) return;
    this.router = ROUTER_TABLE;
    this.keep(this.appliedState);
    const lan = config.router.lanInterface;
    await applyRouter(runner, { table: ROUTER_TABLE, tunnel: config.interface, lan, mtu, routed6 });
    this.routerKey = key;
    const ipv6 = routed6 === null ? 'NAT66' : `${formatCidr(routed6)} routed`;
    log.info(
      { event: 'router', table: ROUTER_TABLE, lan, mtu, routed6: routed6 === null ? null : formatCidr(routed6) },
      `routing ${lan} into ${config.interface} (NAT, IPv6 ${ipv6}, MSS for MTU ${mtu})`,
    );
  }

  /** ipv6: routed: the /64's ::1 on the LAN interface (recorded before, the old one removed first). */
  private async setLanAddress(routed6: Cidr | null): Promise<void> {
    const { config, runner, log } = this.o;
    if (config.router === null) return;
    const want = routed6 === null ? null : lanAddressIn(routed6);
    const old = this.lanAddress;
    if ((want === null ? '' : formatCidr(want)) === (old === null ? '' : formatCidr(old))) return;
    const lan = config.router.lanInterface;
    this.keep(
      this.appliedState,
      [old, want].filter((a): a is Cidr => a !== null),
    );
    if (old !== null) await runner.run('ip', addressArgs('del', old, lan)).catch(() => undefined);
    this.lanAddress = null;
    if (want !== null) {
      await runner.run('ip', addressArgs('replace', want, lan));
      this.lanAddress = want;
      log.info({ event: 'router-prefix', lan, address: formatCidr(want) }, `${formatCidr(want)} on ${lan}`);
    }
    this.keep(this.appliedState);
  }

  /**
   * The LAN the kill switch allows follows the host (lan: outside): when the
   * connected subnets of the other interfaces changed (a new DHCP lease, another
   * Wi-Fi), its LAN sets are replaced, atomically, with the new ones. The agent
   * calls it every few seconds; with nothing changed it runs only `ip -j address`.
   */
  refreshKillSwitch(): Promise<void> {
    if (this.killSwitch === null || this.o.config.lan !== 'outside' || this.refreshing !== null)
      return Promise.resolve();
    this.refreshing = (async () => {
      const state = await this.killSwitchState();
      if (state === null || this.killSwitch === null || lanKey(state.lan) === this.killSwitchLan) return;
      await updateKillSwitchLan(this.o.runner, state);
      this.killSwitchLan = lanKey(state.lan);
      this.o.log.info(
        { event: 'kill-switch-lan', lan: state.lan.map(formatCidr) },
        `kill switch: the LAN is now ${state.lan.map(formatCidr).join(', ') || '(none)'}`,
      );
    })().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /** Before the first lease: the kill switch, the router table, the TUN up without addresses. */
  async start(): Promise<void> {
    if (this.o.config.killSwitch) await this.raiseKillSwitch();
    await this.setRouter(DEFAULT_MTU, null);
    await this.setHost(this.stateFor(null));
  }

  /** Puts a lease on the host; resolves once done (errors are logged, the previous lease stays the applied one). */
  apply(grant: LeaseGrant, onFirst: () => void = () => undefined): Promise<void> {
    const { config, log } = this.o;
    const previous = this.appliedLease;
    if (sameLease(previous, grant)) {
      log.debug({ event: 'lease-renewed' }, 'lease renewed');
      // Same addresses, other DNS servers: only those change.
      if (config.dns && dnsText(grant) !== dnsText(previous!)) {
        this.appliedLease = grant;
        this.applying = this.applying.then(() =>
          this.setDns(grant).catch((e: unknown) =>
            log.error({ event: 'dns-failed', err: (e as Error).message }, 'could not apply the DNS servers'),
          ),
        );
      }
      return this.applying;
    }
    this.appliedLease = grant;
    this.applying = this.applying.then(async () => {
      try {
        const routed6 = routedPrefix(config, grant);
        if (config.router?.ipv6 === 'routed' && routed6 === null && grant.ipv6 !== null && !this.warnedNat66) {
          this.warnedNat66 = true;
          log.warn(
            { event: 'router-nat66', prefixLength: grant.ipv6.prefixLength },
            `the lease's IPv6 is no /${ROUTED_PREFIX_LENGTH}: the LAN's IPv6 is NATed into it (ipv6: routed needs leasePrefixLength: 64 on the gateway)`,
          );
        }
        await this.setRouter(grant.mtu ?? DEFAULT_MTU, routed6);
        await this.setHost(this.stateFor(grant));
        await this.setLanAddress(routed6);
        await this.setDns(grant);
        log.info(
          {
            event: 'lease',
            ...describeLease(grant),
            routes: [...(config.defaultRoute ? ['default'] : []), ...config.routes.map(formatCidr)],
          },
          'lease applied',
        );
        if (previous === null) onFirst();
      } catch (e) {
        log.error({ event: 'lease-apply-failed', err: (e as Error).message }, 'could not apply the lease');
        this.appliedLease = previous;
      }
    });
    return this.applying;
  }

  /** Resolves when every change asked for so far is done. */
  settled(): Promise<void> {
    return this.applying;
  }

  /** Undoes everything; what could not be undone is logged and stays in the state file. */
  async reset(): Promise<void> {
    const { runner, log } = this.o;
    const warn = (what: string) => (e: unknown) =>
      log.warn({ event: 'cleanup-failed', err: (e as Error).message }, `could not ${what}`);
    await this.refreshing?.catch(() => undefined);
    await this.host.reset().catch(warn('undo every host change'));
    await this.setLanAddress(null).catch(warn('remove the LAN address'));
    if (this.dns !== null) await restoreDns(this.dns, runner).catch(warn('put DNS back'));
    this.dns = null;
    if (this.router !== null)
      await removeRouter(runner, this.router).then(() => (this.router = null), warn('remove the router table'));
    if (this.killSwitch !== null)
      await removeKillSwitch(runner, this.killSwitch).then(
        () => (this.killSwitch = null),
        warn('remove the kill switch'),
      );
    if (this.o.stateFile != null && this.killSwitch === null && this.router === null) removeRecord(this.o.stateFile);
  }
}
