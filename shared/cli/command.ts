// One command of the `meshgate` command line as data (its words, arguments,
// options and help text) and the parser that checks argv against it, so that
// parsing and --help (help.ts) come from the same table (commands.ts).
//
//   argv → resolve(): which command (a subcommand is its first argument)
//        → parseArgs tokens (node:util) → checked here, one UsageError each
//        → Call { args, options } for the command's run()
//
// Every command takes -h/--help. Messages name the argument or option at
// fault and never repeat what may be a key (config/redact.ts).

import { parseArgs } from 'node:util';
import { show, showName } from '../config/redact.js';
import { UsageError, type UsageErrorCode } from './usage-error.js';

export interface OptionSpec {
  /** The placeholder of a string option's value (FILE); absent for a flag. */
  readonly value?: string;
  /** A string option the command cannot run without. */
  readonly required?: boolean;
  readonly help: string;
}

export interface Call {
  /** The arguments, as many as the command names (more with `rest`). */
  readonly args: readonly string[];
  /** Option values by name: a string option's text, `true` for a flag given. */
  readonly options: ReadonlyMap<string, string | true>;
}

export interface CommandSpec {
  /** The words after `meshgate`: ['up'], ['gateway', 'leases']. */
  readonly words: readonly string[];
  /** Required arguments as usage shows them: ['<file.conf>']. */
  readonly args: readonly string[];
  /** Any number of further arguments, as usage shows them ('[COMMAND]'). */
  readonly rest?: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** One line (or a few) for the command list; --help shows it too. */
  readonly summary: string;
  /** More for --help, after the summary. */
  readonly details?: string;
  readonly run: (call: Call) => Promise<number>;
}

export const HELP_OPTION = 'help';
const HELP: OptionSpec = { help: 'print this help' };

/** `meshgate WORDS`, as messages and help name a command. */
export const commandName = (spec: CommandSpec): string => ['meshgate', ...spec.words].join(' ');

export function usageError(spec: CommandSpec | null, code: UsageErrorCode, what: string): UsageError {
  const hint = spec === null ? 'meshgate --help' : `${commandName(spec)} --help`;
  return new UsageError(code, `${what}; try "${hint}"`);
}

/** The options of `specs` in parseArgs' form (one kind per name across a command and its subcommands). */
function parseOptions(specs: readonly CommandSpec[]) {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    [HELP_OPTION]: { type: 'boolean', short: 'h' },
  };
  for (const spec of specs) {
    for (const [name, o] of Object.entries(spec.options)) {
      options[name] = { type: o.value === undefined ? 'boolean' : 'string' };
    }
  }
  return options;
}

const tokensOf = (argv: readonly string[], specs: readonly CommandSpec[]) =>
  parseArgs({ args: [...argv], options: parseOptions(specs), strict: false, allowPositionals: true, tokens: true })
    .tokens;

/**
 * The command `argv` names and the rest of argv for it. A command with
 * subcommands (gateway, gateway token) takes its first argument as one when
 * it is one.
 */
export function resolve(
  commands: readonly CommandSpec[],
  argv: readonly string[],
): { spec: CommandSpec; argv: string[] } {
  const [word = '', ...rest] = argv;
  if (word.startsWith('-')) throw usageError(null, 'option', `unknown option ${showName(word)}`);
  const family = commands.filter((c) => c.words[0] === word);
  const top = family.find((c) => c.words.length === 1);
  if (top === undefined) throw usageError(null, 'command', `unknown command ${show(word)}`);
  let spec: CommandSpec = top;
  let args: string[] = rest;
  for (;;) {
    const parent = spec;
    const depth = parent.words.length;
    const subs = family.filter((c) => c.words.length === depth + 1 && isUnder(c, parent));
    if (subs.length === 0) return { spec, argv: args };
    const first = tokensOf(args, family).find((t) => t.kind === 'positional');
    if (first === undefined) return { spec, argv: args };
    const sub = subs.find((c) => c.words[depth] === first.value);
    if (sub === undefined) {
      throw usageError(spec, 'command', `unknown command ${show([...spec.words, first.value].join(' '))}`);
    }
    spec = sub;
    args = args.filter((_, i) => i !== first.index);
  }
}

/** Whether `c` is a subcommand (at any depth) of `parent`. */
export const isUnder = (c: CommandSpec, parent: CommandSpec): boolean =>
  c.words.length > parent.words.length && parent.words.every((w, i) => c.words[i] === w);

/** Checks argv against the command; null when it asks for --help. */
export function parseCall(spec: CommandSpec, argv: readonly string[]): Call | null {
  const options = new Map<string, string | true>();
  const args: string[] = [];
  for (const t of tokensOf(argv, [spec])) {
    if (t.kind === 'positional') args.push(t.value);
    if (t.kind !== 'option') continue;
    const o = t.name === HELP_OPTION ? HELP : spec.options[t.name];
    const name = showName(t.rawName);
    if (o === undefined) throw usageError(spec, 'option', `unknown option ${name}`);
    if (options.has(t.name)) throw usageError(spec, 'option', `${name} given twice`);
    if (o.value === undefined) {
      if (t.value !== undefined) throw usageError(spec, 'option', `${name} takes no value`);
      options.set(t.name, true);
    } else {
      // As before parseArgs: `--config -x` names the file "-x"; `--config --json` forgot the file.
      if (t.value === undefined || (!t.inlineValue && t.value.startsWith('--'))) {
        throw usageError(spec, 'option', `${name} needs a value (${o.value})`);
      }
      options.set(t.name, t.value);
    }
  }
  if (options.has(HELP_OPTION)) return null;
  if (args.length < spec.args.length) {
    throw usageError(spec, 'argument', `missing argument ${spec.args[args.length]}`);
  }
  if (args.length > spec.args.length && spec.rest === undefined) {
    throw usageError(spec, 'argument', `unexpected argument ${show(args[spec.args.length]!)}`);
  }
  for (const [name, o] of Object.entries(spec.options)) {
    if (o.required === true && !options.has(name)) {
      throw usageError(spec, 'option', `missing option --${name} ${o.value ?? ''}`.trimEnd());
    }
  }
  return { args, options };
}

/** A string option's value; required options are always there once parseCall() returned. */
export function stringOption(call: Call, name: string): string {
  const value = call.options.get(name);
  if (typeof value !== 'string') throw new Error(`option --${name} has no value (not required in its spec?)`);
  return value;
}

export const flag = (call: Call, name: string): boolean => call.options.get(name) === true;
