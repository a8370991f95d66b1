// Interface addresses, MTU and routes through `ip` (iproute2). Every change
// is idempotent (`replace`), so applying the same state twice changes nothing.

import { formatCidr, type Cidr } from '../wireguard/allowed-ips.js';
import type { CommandRunner } from './command.js';

export interface LinkState {
  name: string;
  mtu: number;
  addresses: readonly Cidr[];
  /** Destinations routed into the link. */
  routes: readonly Cidr[];
  /** Routing table of those routes (default: main). */
  table?: number;
}

function familyFlag(c: Cidr): string {
  return c.family === 4 ? '-4' : '-6';
}

/** Brings a link to the given MTU, addresses and routes, and up. */
export async function applyLink(runner: CommandRunner, state: LinkState): Promise<void> {
  await runner.run('ip', ['link', 'set', 'dev', state.name, 'mtu', String(state.mtu)]);
  // No automatic IPv6 link-local address: a tunnel peer would only see (and
  // drop) router solicitations and MLD reports sent from it; like a WireGuard
  // device, no multicast either.
  await runner.run('ip', ['link', 'set', 'dev', state.name, 'addrgenmode', 'none', 'multicast', 'off']);
  for (const a of state.addresses) {
    // No duplicate address detection on a point-to-point tunnel: there is nobody to collide with.
    const extra = a.family === 6 ? ['nodad'] : [];
    await runner.run('ip', [familyFlag(a), 'address', 'replace', formatCidr(a), 'dev', state.name, ...extra]);
  }
  await runner.run('ip', ['link', 'set', 'dev', state.name, 'up']);
  const table = state.table === undefined ? [] : ['table', String(state.table)];
  for (const r of state.routes) {
    await runner.run('ip', [familyFlag(r), 'route', 'replace', formatCidr(r), 'dev', state.name, ...table]);
  }
}

/** Removes a link if it exists (a TUN device also disappears when its last fd closes). */
export async function deleteLink(runner: CommandRunner, name: string): Promise<void> {
  try {
    await runner.run('ip', ['link', 'del', 'dev', name]);
  } catch {
    // already gone
  }
}
