// What the namespace test tools write: results as one JSON object a line on
// stdout; a usage mistake as one line on stderr, then exit 2.

/** Writes `obj` as one JSON line on stdout. */
export function print(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** The fail(message) of the tool named `tool`: "tool: message" on stderr, exit 2. */
export function failer(tool) {
  return (message) => {
    process.stderr.write(`${tool}: ${message}\n`);
    process.exit(2);
  };
}
