// Help text rendered from the command table: `meshgate --help` lists every
// command with a one-line synopsis; `meshgate CMD --help` shows one command's
// usage, its options and (gateway) its subcommands.

import { commandName, isUnder, type CommandSpec } from './command.js';

/** Synopses up to this wide share their line with the summary. */
const SYNOPSIS_COLUMN = 23;

/** `up <file.conf>`, `gateway leases --config FILE [--json]`: words, arguments, options. */
export function synopsis(spec: CommandSpec): string {
  const options = Object.entries(spec.options).map(([name, o]) => {
    const text = o.value === undefined ? `--${name}` : `--${name} ${o.value}`;
    return o.required === true ? text : `[${text}]`;
  });
  return [...spec.words, ...spec.args, ...(spec.rest === undefined ? [] : [spec.rest]), ...options].join(' ');
}

/** Rows of `left  right`, the right column at `column`; a long left side puts its right side below it. */
function table(rows: [string, string][], column: number): string {
  const pad = ' '.repeat(column + 4);
  return rows
    .map(([left, right]) => {
      const [first = '', ...more] = right.split('\n');
      const head = left.length <= column ? `  ${left.padEnd(column)}  ${first}` : `  ${left}\n${pad}${first}`;
      return [head, ...more.map((line) => pad + line)].join('\n');
    })
    .join('\n');
}

/** The list of all commands, for `meshgate --help` (and, on stderr, for a bare `meshgate`). */
export function overview(commands: readonly CommandSpec[]): string {
  return `usage: meshgate <command> [arguments]

commands:
${table(
  commands.map((c) => [synopsis(c), c.summary]),
  SYNOPSIS_COLUMN - 2,
)}

"meshgate <command> --help" shows a command's usage, "meshgate --version" the version.
`;
}

/** One command's usage, for `meshgate CMD --help`. */
export function usage(spec: CommandSpec, commands: readonly CommandSpec[]): string {
  const subcommands = commands.filter((c) => isUnder(c, spec));
  const options: [string, string][] = [
    ...Object.entries(spec.options).map(([name, o]): [string, string] => [
      o.value === undefined ? `--${name}` : `--${name} ${o.value}`,
      o.help,
    ]),
    ['-h, --help', 'print this help'],
  ];
  const width = Math.max(...options.map(([left]) => left.length));
  const parts = [
    `usage: ${[spec, ...subcommands].map((c) => `meshgate ${synopsis(c)}`).join('\n       ')}`,
    [spec.summary, spec.details].filter((t) => t !== undefined).join('\n'),
    `options:\n${table(options, width)}`,
  ];
  if (subcommands.length > 0) {
    parts.push(
      `commands:\n${table(
        subcommands.map((c) => [c.words.slice(spec.words.length).join(' '), c.summary]),
        Math.max(...subcommands.map((c) => c.words.slice(spec.words.length).join(' ').length)),
      )}\n\n"${commandName(spec)} <command> --help" shows a command's usage.`,
    );
  }
  return parts.join('\n\n') + '\n';
}
