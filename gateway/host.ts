// The gateway's host state, applied by one call and undone by one:
//
//   set:    the TUN (MTU, the gateway's address in each pool, up) and IPv4/IPv6
//           forwarding (+ the uplink's accept_ra, sysctl.ts) through a
//           HostConfigurator → the nftables table (firewall.ts, atomic)
//   reset:  the table removed → forwarding back to what the host had → the TUN deleted
//
// The forwarding values from before the first start are kept in the state db:
// a gateway restarted after a crash finds forwarding already on (its own), and
// must still put back, and tell the firewall, what the host had before meshgate.

import type { CommandRunner } from '../shared/host/command.js';
import { EMPTY_HOST_STATE, HostConfigurator, type HostLayer } from '../shared/host/configurator.js';
import type { Cidr } from '../shared/wireguard/allowed-ips.js';
import { applyFirewall, removeFirewall, type FirewallState } from './firewall.js';
import type { Store } from './store.js';
import { forwardedBefore, forwardingStateOf, forwardingSysctls, originalsOf, type ForwardingState } from './sysctl.js';

export const FORWARDING_META_KEY = 'forwarding-before';

export interface GatewayHostState {
  /** The TUN device. */
  interface: string;
  mtu: number;
  /** The gateway's own tunnel addresses. */
  addresses: readonly Cidr[];
  uplink: string;
  /** The firewall but for hostForwarding, which comes from the forwarding state found. */
  firewall: Omit<FirewallState, 'hostForwarding'>;
}

export class GatewayHost implements HostLayer<GatewayHostState> {
  private readonly host: HostConfigurator;
  /** The host's forwarding before the first start: from the state db, else as found now. */
  private original: ForwardingState | null;
  private forwarding = false;
  private firewallTable: string | null = null;

  constructor(
    private readonly runner: CommandRunner,
    private readonly store: Pick<Store, 'getMeta' | 'setMeta'>,
  ) {
    const kept = store.getMeta(FORWARDING_META_KEY);
    this.original = kept ? (JSON.parse(kept) as ForwardingState) : null;
    this.host = new HostConfigurator(runner, this.original ? { originals: originalsOf(this.original) } : {});
  }

  async set(s: GatewayHostState): Promise<void> {
    await this.host.set({
      ...EMPTY_HOST_STATE,
      link: { name: s.interface, mtu: s.mtu, up: true, owned: true },
      addresses: s.addresses,
      sysctls: forwardingSysctls({ uplink: s.uplink }),
    });
    this.forwarding = true;
    if (this.original === null) {
      this.original = forwardingStateOf(this.host.originals(), s.uplink);
      this.store.setMeta(FORWARDING_META_KEY, JSON.stringify(this.original));
    }
    // As the host was before meshgate (not as it is after a crash): routing for the tunnel only, if it did not route.
    const firewall: FirewallState = { ...s.firewall, hostForwarding: forwardedBefore(this.original) };
    this.firewallTable = firewall.table;
    await applyFirewall(this.runner, firewall);
  }

  async reset(): Promise<void> {
    let first: unknown = null;
    if (this.firewallTable !== null) {
      await removeFirewall(this.runner, this.firewallTable).catch((e: unknown) => (first = e));
      this.firewallTable = null;
    }
    try {
      await this.host.reset();
      // Put back: the next start reads the host afresh.
      if (this.forwarding) {
        this.store.setMeta(FORWARDING_META_KEY, '');
        this.original = null;
      }
    } catch (e) {
      first ??= e;
    }
    this.forwarding = false;
    if (first !== null) throw first;
  }
}
