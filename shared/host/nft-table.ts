// The text pieces every meshgate nftables table is written with: each one is
// replaced as a whole in one `nft -f -` transaction, so there is never a
// moment without its rules and applying the same text twice changes nothing.
//
//   table inet NAME {}        creates it when missing
//   delete table inet NAME    ...so this never fails
//   table inet NAME { ... }   the whole new table
//
// The gateway's firewall (gateway/firewall.ts) and the client's kill switch
// (client/kill-switch.ts) use them.

/**
 * Whether a table name is safe to embed unquoted (nft does not accept a quoted
 * table name). It must start with "meshgate", so it can never be an nft keyword
 * (`counter`, `ip`, `drop` … are refused as names) and is recognisably ours.
 */
export function isSafeTableName(name: unknown): name is string {
  return typeof name === 'string' && /^meshgate[a-z0-9_]{0,24}$/.test(name);
}

/** The lines that open the replacement of `inet NAME` (the caller adds the body and the closing brace). */
export function replaceTableLines(table: string, comment: string): string[] {
  return [`# ${comment}`, `table inet ${table} {}`, `delete table inet ${table}`, `table inet ${table} {`];
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
