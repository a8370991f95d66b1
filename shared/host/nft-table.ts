// The text pieces every meshgate nftables table is written with: each one is
// replaced as a whole in one `nft -f -` transaction, so there is never a
// moment without its rules and applying the same text twice changes nothing.
//
//   table inet NAME {}        creates it when missing
//   delete table inet NAME    ...so this never fails
//   table inet NAME { ... }   the whole new table
//
// The gateway's firewall (gateway/firewall.ts), the client's kill switch
// (client/kill-switch.ts) and its router table (client/router.ts) use them.

import { INTERFACE_NAME_RULE, isInterfaceName } from '../net/interface-name.js';
import { CommandError, type CommandRunner } from './command.js';

/** The failures of a client table (kill switch, router): the error lists of both. */
export const NftTableErrorCodes = [
  'invalid-state', // the state cannot be rendered safely (names the field)
  'nft-failed', // nft exited non-zero (its message is included)
] as const;
export type NftTableErrorCode = (typeof NftTableErrorCodes)[number];

/**
 * Whether a table name is safe to embed unquoted (nft does not accept a quoted
 * table name). It must start with "meshgate", so it can never be an nft keyword
 * (`counter`, `ip`, `drop` … are refused as names) and is recognisably ours.
 */
export function isSafeTableName(name: unknown): name is string {
  return typeof name === 'string' && /^meshgate[a-z0-9_]{0,24}$/.test(name);
}

/**
 * Checks the names a table's text embeds unquoted or quoted: the table name
 * (isSafeTableName) and interface names (the one rule of
 * shared/net/interface-name.ts, which nft strings can hold as they are).
 * The first bad one goes to the renderer's `invalid(field, message)`.
 */
export function checkNames(
  invalid: (field: string, message: string) => never,
  names: { table?: unknown; interfaces?: Record<string, unknown> },
): void {
  if ('table' in names && !isSafeTableName(names.table))
    invalid('table', `${JSON.stringify(names.table)}: must be "meshgate" + 0..24 of a-z 0-9 _`);
  for (const [field, name] of Object.entries(names.interfaces ?? {}))
    if (!isInterfaceName(name)) invalid(field, `${JSON.stringify(name)}: an interface name is ${INTERFACE_NAME_RULE}`);
}

/** The lines that open the replacement of `inet NAME` (the caller adds the body and the closing brace). */
export function replaceTableLines(table: string, comment: string): string[] {
  return [`# ${comment}`, `table inet ${table} {}`, `delete table inet ${table}`, `table inet ${table} {`];
}

/** The whole replacement text of `inet NAME`: the opening lines, then the body's blocks. */
export function tableText(table: string, comment: string, body: readonly string[]): string {
  const lines = [...replaceTableLines(table, comment), ...body];
  lines.pop(); // no blank line before the closing brace
  lines.push('}', '');
  return lines.join('\n');
}

/** The coded error class of one client table (KillSwitchError, RouterError). */
export type NftTableErrorClass = new (code: NftTableErrorCode, message: string, options?: { cause?: unknown }) => Error;

/**
 * Apply and remove of one client table (the kill switch, the router): `apply`
 * replaces it with render(state) in one `nft -f -` transaction; `remove`
 * deletes it if it exists (default `table`), nothing else. Failures are
 * `error`s: nft's own message, or `label: table: …` for an unsafe name.
 */
export function clientTable<S>(o: {
  table: string;
  label: string;
  error: NftTableErrorClass;
  render: (state: S) => string;
}): {
  apply(r: CommandRunner, state: S): Promise<void>;
  remove(r: CommandRunner, table?: string): Promise<void>;
  /** Runs other nft text in one transaction, with the same errors (an update of a table that is up). */
  run(r: CommandRunner, text: string): Promise<void>;
} {
  const nft = async (r: CommandRunner, text: string): Promise<void> => {
    try {
      await r.run('nft', ['-f', '-'], { input: text });
    } catch (err) {
      const detail = err instanceof CommandError ? err.stderr.trim() || err.message : String(err);
      throw new o.error('nft-failed', `nft -f -: ${detail}`, { cause: err });
    }
  };
  return {
    apply: (r, state) => nft(r, o.render(state)),
    remove: async (r, table = o.table) => {
      if (!isSafeTableName(table)) throw new o.error('invalid-state', `${o.label}: table: ${JSON.stringify(table)}`);
      await nft(r, removeTableText(table));
    },
    run: nft,
  };
}

// TCP MSS = MTU minus the IP and TCP headers without options (RFC 879; RFC 8200 for IPv6).
const IPV4_TCP_HEADERS = 40;
const IPV6_TCP_HEADERS = 60;

/**
 * The rules of a `clamp` chain: the TCP MSS lowered to fit `mtu`, per family.
 * Only a SYN (or SYN-ACK), not a RST, carries an MSS option that matters; a
 * SYN that already asks for less keeps its value.
 */
export function mssClampRules(mtu: number): string[] {
  const rule = (family: 'ipv4' | 'ipv6', mss: number) =>
    `meta nfproto ${family} tcp flags & (syn | rst) == syn tcp option maxseg size > ${mss} tcp option maxseg size set ${mss}`;
  return [rule('ipv4', mtu - IPV4_TCP_HEADERS), rule('ipv6', mtu - IPV6_TCP_HEADERS)];
}

/** The text that deletes `inet NAME` if it exists, in one transaction. */
export function removeTableText(table: string): string {
  return `table inet ${table} {}\ndelete table inet ${table}\n`;
}

/** A chain inside the table body, tab-indented, followed by a blank line. */
export function chainBlock(name: string, rules: readonly string[]): string[] {
  return [`\tchain ${name} {`, ...rules.map((r) => `\t\t${r}`), '\t}', ''];
}

/** An interval set of addresses inside the table body, followed by a blank line. */
export function setBlock(name: string, type: 'ipv4_addr' | 'ipv6_addr', elements: readonly string[]): string[] {
  const lines = [`\tset ${name} {`, `\t\ttype ${type}`, '\t\tflags interval'];
  if (elements.length > 0) lines.push(`\t\telements = { ${elements.join(', ')} }`);
  lines.push('\t}', '');
  return lines;
}
