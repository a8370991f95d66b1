// Host network state as data, applied idempotently (the model is tailscale's
// Linux router `Set(config)`): the caller states what should be (HostState),
// set() compares it with what this configurator applied last and runs only
// the commands that close the gap, reset() undoes everything it applied.
//
//   set(desired)   link: mtu, tunnel mode (once), up
//                  removed: rules → routes
//                  addresses: the new ones added, then the old ones removed
//                  added:   link up → per family: routes, rules
//                  sysctls: reads every new key first, then writes; a key no
//                           longer wanted gets its original value back
//   reset()        rules → sysctls back to their originals, newest first →
//                  routes → addresses (or, for an owned link, the link
//                  deleted, which takes them along)
//
// set() twice with the same state runs no command the second time. A failed
// command leaves the record at what did happen, so reset() after a failure
// undoes exactly the part that was applied. Removals tolerate "already gone";
// every sysctl is restored even when one fails (the first error is thrown).
// Sysctl originals can be handed in (`originals`), so that a daemon restarted
// after a crash puts back the host's values, not the ones it left.

import type { Cidr } from '../wireguard/allowed-ips.js';
import type { CommandRunner } from './command.js';
import {
  addressArgs,
  addressKey,
  linkDeleteArgs,
  linkMtuArgs,
  linkTunnelModeArgs,
  linkUpArgs,
  routeArgs,
  routeKey,
  ruleArgs,
  ruleKey,
  type Family,
  type RouteState,
  type RuleState,
} from './ip.js';
import { readSysctl, writeSysctl } from './sysctl.js';

export type { Family, RouteState, RuleState } from './ip.js';

export interface LinkState {
  name: string;
  mtu: number;
  up: boolean;
  /** Created by us (a TUN): reset() deletes it, and the kernel its addresses and routes with it. */
  owned: boolean;
}

/** An integer sysctl; with `when`, changed only if its original value is that (else left alone). */
export interface SysctlState {
  key: string;
  value: string;
  when?: string;
}

export interface HostState {
  /** The link that addresses and routes belong to; null: none (then no addresses or routes). */
  link: LinkState | null;
  addresses: readonly Cidr[];
  routes: readonly RouteState[];
  rules: readonly RuleState[];
  sysctls: readonly SysctlState[];
}

export const EMPTY_HOST_STATE: HostState = { link: null, addresses: [], routes: [], rules: [], sysctls: [] };

/** Anything that brings one part of the host to a desired state and can undo it (the firewall, for one). */
export interface HostLayer<T> {
  set(desired: T): Promise<void>;
  reset(): Promise<void>;
}

const FAMILIES: readonly Family[] = [4, 6];

interface AppliedLink {
  name: string;
  mtu: number | null;
  tunnelMode: boolean;
  up: boolean;
  owned: boolean;
}

interface SysctlRecord {
  /** Before this configurator (or the run whose originals it was given) changed it. */
  original: string;
  /** What the host has now, as far as we know. */
  current: string;
  /** The `when` condition held against the original. */
  owned: boolean;
}

export class HostConfigurator implements HostLayer<HostState> {
  private link: AppliedLink | null = null;
  private readonly addresses = new Map<string, Cidr>();
  private readonly routes = new Map<string, RouteState>();
  private readonly rules = new Map<string, RuleState>();
  /** In the order first applied (restored newest first). */
  private readonly sysctls = new Map<string, SysctlRecord>();
  private readonly seeded: Map<string, string>;

  constructor(
    private readonly runner: CommandRunner,
    opts: { originals?: Readonly<Record<string, string>> } = {},
  ) {
    this.seeded = new Map(Object.entries(opts.originals ?? {}));
  }

  /** The original value of every wanted sysctl whose condition held: what reset() puts back. */
  originals(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [key, s] of this.sysctls) if (s.owned) out[key] = s.original;
    return out;
  }

  async set(desired: HostState): Promise<void> {
    const link = desired.link;
    if (link === null && (desired.addresses.length > 0 || desired.routes.length > 0))
      throw new Error('host state: addresses and routes need a link');
    // Another link: everything on the old one goes first.
    if (this.link !== null && this.link.name !== link?.name) await this.resetLink();
    if (link !== null) await this.setLinkSettings(link);

    const wantAddresses = byKey(desired.addresses, addressKey);
    const wantRoutes = byKey(desired.routes, routeKey);
    const wantRules = byKey(desired.rules, ruleKey);
    for (const [key, r] of this.rules) if (!wantRules.has(key)) await this.removeRule(key, r);
    for (const [key, r] of this.routes) if (!wantRoutes.has(key)) await this.removeRoute(key, r);

    // Make before break: the new addresses first. Deleting the last IPv4 address
    // of a device makes the kernel flush every IPv4 route through it (routes this
    // record would still count as present), and the device is never without one.
    if (link !== null) {
      for (const [key, a] of wantAddresses) {
        if (this.addresses.has(key)) continue;
        await this.ip(addressArgs('replace', a, link.name));
        this.addresses.set(key, a);
      }
    }
    let removed4 = false;
    for (const [key, a] of this.addresses) {
      if (wantAddresses.has(key)) continue;
      await this.removeAddress(key, a);
      removed4 ||= a.family === 4;
    }
    // The last IPv4 address gone: so are the link's IPv4 routes; those still wanted are put back below.
    if (removed4 && ![...this.addresses.values()].some((a) => a.family === 4))
      for (const [key, r] of this.routes) if (r.cidr.family === 4) this.routes.delete(key);

    if (link !== null) {
      if (this.link!.up !== link.up) {
        await this.ip(linkUpArgs(link.name, link.up));
        this.link!.up = link.up;
      }
    }
    for (const family of FAMILIES) {
      for (const [key, r] of wantRoutes) {
        if (r.cidr.family !== family || this.routes.has(key)) continue;
        await this.ip(routeArgs('replace', r, link!.name));
        this.routes.set(key, r);
      }
      for (const [key, r] of wantRules) {
        if (r.family !== family || this.rules.has(key)) continue;
        // A rule left by a killed earlier run would otherwise stand twice.
        await this.ip(ruleArgs('del', r)).catch(() => undefined);
        await this.ip(ruleArgs('add', r));
        this.rules.set(key, r);
      }
    }
    await this.setSysctls(desired.sysctls);
  }

  /**
   * Takes `state` as applied already (by an earlier run, with the originals
   * given to the constructor), without running anything: reset() then undoes it.
   */
  adopt(state: HostState): void {
    this.link = state.link === null ? null : { ...state.link, tunnelMode: true };
    for (const a of state.addresses) this.addresses.set(addressKey(a), a);
    for (const r of state.routes) this.routes.set(routeKey(r), r);
    for (const r of state.rules) this.rules.set(ruleKey(r), r);
    for (const s of state.sysctls) {
      const original = this.seeded.get(s.key) ?? s.value;
      const owned = s.when === undefined || s.when === original;
      this.sysctls.set(s.key, { original, current: owned ? s.value : original, owned });
    }
  }

  async reset(): Promise<void> {
    for (const [key, r] of [...this.rules]) await this.removeRule(key, r);
    let first: unknown = null;
    for (const [key, s] of [...this.sysctls].reverse()) {
      try {
        await this.restoreSysctl(key, s);
      } catch (err) {
        first ??= err;
      }
    }
    this.sysctls.clear();
    await this.resetLink();
    if (first !== null) throw first;
  }

  private async ip(args: string[]): Promise<void> {
    await this.runner.run('ip', args);
  }

  private async setLinkSettings(link: LinkState): Promise<void> {
    // Recorded before the first command: an owned link exists already, and reset() must delete it.
    this.link ??= { name: link.name, mtu: null, tunnelMode: false, up: false, owned: link.owned };
    this.link.owned = link.owned;
    if (this.link.mtu !== link.mtu) {
      await this.ip(linkMtuArgs(link.name, link.mtu));
      this.link.mtu = link.mtu;
    }
    if (!this.link.tunnelMode) {
      await this.ip(linkTunnelModeArgs(link.name));
      this.link.tunnelMode = true;
    }
  }

  /** Routes and addresses off the link (or the owned link deleted with them). */
  private async resetLink(): Promise<void> {
    const link = this.link;
    if (link === null) return;
    if (link.owned) {
      await this.ip(linkDeleteArgs(link.name)).catch(() => undefined); // a TUN also goes when its fd closes
      this.routes.clear();
      this.addresses.clear();
    } else {
      for (const [key, r] of [...this.routes]) await this.removeRoute(key, r);
      for (const [key, a] of [...this.addresses]) await this.removeAddress(key, a);
    }
    this.link = null;
  }

  // Removals tolerate "already gone" (the device may have vanished with its fd).
  private async removeRule(key: string, r: RuleState): Promise<void> {
    await this.ip(ruleArgs('del', r)).catch(() => undefined);
    this.rules.delete(key);
  }

  private async removeRoute(key: string, r: RouteState): Promise<void> {
    await this.ip(routeArgs('del', r, this.link!.name)).catch(() => undefined);
    this.routes.delete(key);
  }

  private async removeAddress(key: string, a: Cidr): Promise<void> {
    await this.ip(addressArgs('del', a, this.link!.name)).catch(() => undefined);
    this.addresses.delete(key);
  }

  private async setSysctls(wanted: readonly SysctlState[]): Promise<void> {
    const want = byKey(wanted, (s) => s.key);
    for (const [key, s] of [...this.sysctls]) {
      if (want.has(key)) continue;
      await this.restoreSysctl(key, s);
      this.sysctls.delete(key);
    }
    // Every new key is read before anything is written: a missing key fails with no change.
    const found = new Map<string, string>();
    for (const key of want.keys()) if (!this.sysctls.has(key)) found.set(key, await readSysctl(this.runner, key));
    for (const [key, current] of found) {
      const original = this.seeded.get(key) ?? current;
      const when = want.get(key)!.when;
      this.sysctls.set(key, { original, current, owned: when === undefined || when === original });
    }
    for (const [key, s] of want) {
      const record = this.sysctls.get(key)!;
      record.owned = s.when === undefined || s.when === record.original;
      const target = record.owned ? s.value : record.original;
      if (target === record.current) continue;
      await writeSysctl(this.runner, key, target);
      record.current = target;
    }
  }

  private async restoreSysctl(key: string, s: SysctlRecord): Promise<void> {
    if (s.current === s.original) return;
    await writeSysctl(this.runner, key, s.original);
    s.current = s.original;
  }
}

function byKey<T>(items: readonly T[], key: (item: T) => string): Map<string, T> {
  return new Map(items.map((item) => [key(item), item]));
}
