// The `meshgate` command line: argv → a command of the table (commands.ts),
// checked by node:util parseArgs (command.ts) → its run() → an exit code.
// Errors are printed as one clear line, never a stack trace or a key; the
// exit code follows the error's class (exit-code.ts): 2 for what the user
// got wrong, 1 for a failure while running.
//
//   meshgate genkey | pubkey | genpsk        keys, exactly as `wg` prints them
//   meshgate up <file.conf>                  run one tunnel in the foreground
//   meshgate show <name> [--json]            status of a running tunnel
//   meshgate gateway [SUBCOMMAND] --config FILE, meshgate client --config FILE
//   meshgate CMD --help, meshgate --help, meshgate --version

import { parseCall, resolve } from './command.js';
import { COMMANDS } from './commands.js';
import { EXIT_OK, EXIT_USAGE, exitCodeOf } from './exit-code.js';
import { overview, usage } from './help.js';

export { UsageError } from './usage-error.js';
export { interfaceNameOf } from './foreground.js';

/** Options that stand for a command of their own, as in `wg --version`. */
const ALIASES: Readonly<Record<string, string>> = { '--help': 'help', '-h': 'help', '--version': 'version' };

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    process.stderr.write(overview(COMMANDS));
    return EXIT_USAGE;
  }
  const [first, ...rest] = argv;
  try {
    const { spec, argv: args } = resolve(COMMANDS, [ALIASES[first!] ?? first!, ...rest]);
    const call = parseCall(spec, args);
    if (call === null) {
      process.stdout.write(usage(spec, COMMANDS));
      return EXIT_OK;
    }
    return await spec.run(call);
  } catch (e) {
    process.stderr.write(`meshgate: ${e instanceof Error ? e.message : String(e)}\n`);
    return exitCodeOf(e);
  }
}
