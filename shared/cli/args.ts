// Small argument helpers shared by the subcommands.

export class ArgumentError extends Error {
  override readonly name = 'ArgumentError';
}

/** Removes `--name VALUE` (or `--name=VALUE`) from `args` and returns VALUE. */
export function takeOption(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === name) {
      const v = args[i + 1];
      if (v === undefined || v.startsWith('--')) throw new ArgumentError(`${name} needs a value`);
      args.splice(i, 2);
      return v;
    }
    if (a.startsWith(`${name}=`)) {
      args.splice(i, 1);
      return a.slice(name.length + 1);
    }
  }
  return undefined;
}
