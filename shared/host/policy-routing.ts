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
// to marked packets pass the reverse-path filter. Removal deletes exactly
// these rules, flushes that table and puts src_valid_mark back if it was
// changed. Everything goes through the CommandRunner (`ip`, `sysctl`).

import type { CommandRunner } from './command.js';
import { readSysctl, writeSysctl } from './sysctl.js';

/** The first table (and mark) tried, as wg-quick: its default port number. */
export const DEFAULT_TABLE = 51820;
const SRC_VALID_MARK = 'net.ipv4.conf.all.src_valid_mark';

export interface DefaultRoutes {
  /** The tunnel device. */
  device: string;
  /** Routing table id, and the firewall mark of the tunnel's own packets. */
  table: number;
  families: readonly (4 | 6)[];
  /** src_valid_mark before apply, when apply changed it. */
  previousSrcValidMark?: string;
}

function rules(table: number, family: 4 | 6): string[][] {
  const f = `-${family}`;
  return [
    [f, 'rule', 'add', 'not', 'fwmark', String(table), 'table', String(table)],
    [f, 'rule', 'add', 'table', 'main', 'suppress_prefixlength', '0'],
  ];
}

const asDelete = (rule: string[]): string[] => rule.map((a) => (a === 'add' ? 'del' : a));

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

/** Installs the default routes and rules; returns what removeDefaultRoutes needs. */
export async function applyDefaultRoutes(
  runner: CommandRunner,
  want: { device: string; table: number; families: readonly (4 | 6)[] },
): Promise<DefaultRoutes> {
  const state: DefaultRoutes = { ...want };
  for (const family of want.families) {
    const table = String(want.table);
    await runner.run('ip', [
      `-${family}`,
      'route',
      'replace',
      family === 4 ? '0.0.0.0/0' : '::/0',
      'dev',
      want.device,
      'table',
      table,
    ]);
    for (const rule of rules(want.table, family)) {
      // A rule left by a killed earlier run with this table would stand twice.
      await runner.run('ip', asDelete(rule)).catch(() => undefined);
      await runner.run('ip', rule);
    }
  }
  if (want.families.includes(4)) {
    const previous = await readSysctl(runner, SRC_VALID_MARK);
    if (previous !== '1') {
      await writeSysctl(runner, SRC_VALID_MARK, '1');
      state.previousSrcValidMark = previous;
    }
  }
  return state;
}

/** Removes what applyDefaultRoutes installed; every step is tried, whatever fails before it. */
export async function removeDefaultRoutes(runner: CommandRunner, state: DefaultRoutes): Promise<void> {
  for (const family of state.families) {
    for (const rule of rules(state.table, family)) await runner.run('ip', asDelete(rule)).catch(() => undefined);
    await runner.run('ip', [`-${family}`, 'route', 'flush', 'table', String(state.table)]).catch(() => undefined);
  }
  if (state.previousSrcValidMark !== undefined)
    await writeSysctl(runner, SRC_VALID_MARK, state.previousSrcValidMark).catch(() => undefined);
}
