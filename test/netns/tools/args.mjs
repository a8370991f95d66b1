// Command-line arguments of the namespace test tools: positionals, and
// `--name value` options (every value of a repeated option, in order).

/** Splits argv; calls fail(message) for an option without a value. */
export function parseArgs(argv, fail) {
  const positional = [];
  const options = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const value = argv[i + 1];
      if (value === undefined) fail(`option ${a} needs a value`);
      (options[a.slice(2)] ??= []).push(value);
      i++;
    } else positional.push(a);
  }
  return { positional, options };
}
