// Default routes through a tunnel without swallowing the tunnel's own UDP
// packets, the way wg-quick(8) does it (its FwMark scheme):
//
//   the tunnel's UDP socket marks what it sends with M (SO_MARK)
//   ip route add default dev TUN table M           the tunnel's own table
//   ip rule add not fwmark M table M               unmarked packets: that table
//   ip rule add table main suppress_prefixlength 0 ...but the main table's more
//                                                  specific routes still win
//                                                  (the LAN, the mesh, the underlay)
//
// per address family, and net.ipv4.conf.all.src_valid_mark=1 so that replies
// to marked packets pass the reverse-path filter (only if it is not 1 already;
// it goes back when the configurator resets). This file says what that state
// is (defaultRouteState); HostConfigurator (configurator.ts) applies and undoes it.
//
// The client agent adds two choices: `keepMesh` sends the mesh ranges
// (Yggdrasil 200::/7, cjdns fc00::/8) to the main table ahead of the tunnel's
// (ip rule add to 200::/7 table main), so a tunnel that rides on the mesh
// never swallows it; `keepMain: false` drops the suppress_prefixlength rule
// (the LAN goes into the tunnel too). A rule added later is looked at first,
// so the list ends with the rules that must win.

import type { CommandRunner } from './command.js';
import type { Family, RouteState, RuleState, SysctlState } from './configurator.js';
import { parseCidr, type Cidr } from '../net/address.js';

/** The first table (and mark) tried, as wg-quick: its default port number. */
export const DEFAULT_TABLE = 51820;
export const SRC_VALID_MARK = 'net.ipv4.conf.all.src_valid_mark';

/** Mesh ranges that stay in the main table whatever the default route says. */
export const MESH_RANGES: readonly Cidr[] = [parseCidr('200::/7'), parseCidr('fc00::/8')];

export interface DefaultRouteOptions {
  /** The main table's more specific routes win (suppress_prefixlength 0); default true. */
  keepMain?: boolean;
  /** MESH_RANGES looked up in the main table before the tunnel's; default false. */
  keepMesh?: boolean;
}

/** The part of a HostState that routes both families' defaults through the link via `table`. */
export function defaultRouteState(
  table: number,
  families: readonly Family[],
  opts: DefaultRouteOptions = {},
): { routes: RouteState[]; rules: RuleState[]; sysctls: SysctlState[] } {
  const keepMain = opts.keepMain ?? true;
  return {
    routes: families.map((f) => ({ cidr: parseCidr(f === 4 ? '0.0.0.0/0' : '::/0'), table })),
    rules: families.flatMap((family): RuleState[] => [
      { family, not: true, fwmark: table, table },
      ...(keepMain ? [{ family, table: 'main' as const, suppressPrefixLength: 0 }] : []),
      ...(opts.keepMesh
        ? MESH_RANGES.filter((to) => to.family === family).map((to) => ({ family, to, table: 'main' as const }))
        : []),
    ]),
    sysctls: families.includes(4) ? [{ key: SRC_VALID_MARK, value: '1' }] : [],
  };
}

/**
 * The table for a tunnel's default routes: `fwMark` when the config names
 * one, else the first number from DEFAULT_TABLE up whose IPv4 and IPv6 tables
 * are both empty (as wg-quick chooses).
 */
export async function chooseTable(runner: CommandRunner, fwMark: number | null): Promise<number> {
  if (fwMark !== null && fwMark !== 0) return fwMark;
  // `ip -4 route show table N` fails when table N was never created: empty too.
  const routesIn = (family: 4 | 6, table: number) =>
    runner.run('ip', [`-${family}`, 'route', 'show', 'table', String(table)]).catch(() => '');
  for (let table = DEFAULT_TABLE; table < DEFAULT_TABLE + 1000; table++) {
    if ((await routesIn(4, table)).trim() === '' && (await routesIn(6, table)).trim() === '') return table;
  }
  throw new Error(`no free routing table in ${DEFAULT_TABLE}..${DEFAULT_TABLE + 999}`);
}
