// The command line's handling of secrets, in-process: `meshgate up` refuses a
// wg-quick file that is a symbolic link or a FIFO with one line and exit 2,
// before anything on the host changes; keys read from stdin or written to
// stdout never pass through Node's shared Buffer pool.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runMain } from '../../test/support/run-main.js';
import { inSharedPool } from '../../test/support/secrets.js';
import { generatePrivateKeyText, publicKeyText } from '../wireguard/keys.js';
import { commandName, type CommandSpec } from './command.js';
import { COMMANDS } from './commands.js';
import { overview, usage } from './help.js';
import { main } from './main.js';

const CONF = `[Interface]
PrivateKey = qPZ4oLZHxZtcUfL3kzgSYD66ztKdPcfnCHeuUvRzBVw=
`;

let dir: string;

async function run(argv: string[]): Promise<{ code: number; stderr: string }> {
  const { code, stderr } = await runMain(argv);
  return { code, stderr };
}

describe('meshgate up: secret files (Hardening #12)', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mg-cli-'));
    writeFileSync(join(dir, 'real.conf'), CONF, { mode: 0o600 });
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a symbolic link with one line, exit 2', async () => {
    const link = join(dir, 'mgt0.conf');
    symlinkSync(join(dir, 'real.conf'), link);
    expect(await run(['up', link])).toEqual({
      code: 2,
      stderr: `meshgate: ${link}: the file is a symbolic link (name the file itself)\n`,
    });
  });

  it('refuses a FIFO at once instead of blocking on it', async () => {
    const fifo = join(dir, 'mgt1.conf');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    expect(await run(['up', fifo])).toEqual({
      code: 2,
      stderr: `meshgate: ${fifo}: the file is a FIFO (named pipe), not a regular file\n`,
    });
  });
});

describe('keys on stdin and stdout (Hardening #11a)', () => {
  it('genkey and genpsk write from a buffer of their own, zeroed once written', async () => {
    for (const command of ['genkey', 'genpsk']) {
      const written: { text: string; chunk: unknown }[] = [];
      const out = vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown, done?: () => void) => {
        written.push({ text: String(chunk), chunk });
        done?.();
        return true;
      }) as typeof process.stdout.write);
      try {
        expect(await main([command])).toBe(0);
      } finally {
        out.mockRestore();
      }
      expect(written).toHaveLength(1);
      const [{ text, chunk }] = written as [{ text: string; chunk: unknown }];
      expect(text).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
      expect(chunk).toBeInstanceOf(Buffer);
      const bytes = chunk as Buffer;
      expect(bytes.buffer.byteLength).toBe(bytes.length); // not a slice of the shared pool
      expect(bytes.every((b) => b === 0)).toBe(true); // zeroed after the write
      expect(inSharedPool(new TextEncoder().encode(text.trim()))).toBe(false);
    }
  });

  it('pubkey reads the private key without leaving it in the shared pool, and zeroes what it read', async () => {
    const privateKey = generatePrivateKeyText((n) => randomBytes(n)); // fresh: in no buffer yet
    const chunk = Buffer.from(new TextEncoder().encode(privateKey + '\n').buffer);
    const stdin = vi.spyOn(process, 'stdin', 'get').mockReturnValue(Readable.from([chunk]) as typeof process.stdin);
    const written: string[] = [];
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(((c: unknown) => {
      written.push(String(c));
      return true;
    }) as typeof process.stdout.write);
    try {
      expect(await main(['pubkey'])).toBe(0);
    } finally {
      out.mockRestore();
      stdin.mockRestore();
    }
    expect(written).toEqual([publicKeyText(privateKey) + '\n']);
    expect(inSharedPool(new TextEncoder().encode(privateKey))).toBe(false);
    expect(chunk.every((b) => b === 0)).toBe(true);
  });
});

// The command line on node:util parseArgs (issue 7 #7): every command of the
// table answers --help with its own usage (exit 0), refuses what it does not
// take with one line naming it (exit 2), and never runs on a malformed line.
describe('every command: --help, unknown options, missing and extra arguments', () => {
  const name = (c: CommandSpec) => c.words.join(' ');
  /** The required options with a value, so that only the mistake under test is left. */
  const required = (c: CommandSpec) =>
    Object.entries(c.options).flatMap(([o, spec]) => (spec.required === true ? [`--${o}`, '/nonexistent/x'] : []));
  const oneLine = (stderr: string) => expect(stderr).toMatch(/^meshgate: [^\n]+\n$/);

  it.each(COMMANDS.map((c) => [name(c), c] as const))('%s --help / -h: its usage on stdout, exit 0', async (_, c) => {
    for (const help of ['--help', '-h']) {
      const r = await runMain([...c.words, help]);
      expect(r).toEqual({ code: 0, stdout: usage(c, COMMANDS), stderr: '' });
      expect(r.stdout.startsWith(`usage: ${commandName(c)}`)).toBe(true);
    }
    expect((await runMain(['help', ...c.words])).stdout).toBe(usage(c, COMMANDS));
  });

  it.each(COMMANDS.map((c) => [name(c), c] as const))('%s --bogus: exit 2, one line naming it', async (_, c) => {
    const r = await runMain([...c.words, '--bogus', ...required(c)]);
    expect(r.code).toBe(2);
    oneLine(r.stderr);
    expect(r.stderr).toContain('unknown option --bogus');
    expect(r.stderr).toContain(`"${commandName(c)} --help"`);
    expect(r.stdout).toBe('');
    expect((await runMain([...c.words, '-x'])).stderr).toContain('unknown option -x');
  });

  const withArgs = COMMANDS.filter((c) => c.args.length > 0);
  it.each(withArgs.map((c) => [name(c), c] as const))('%s without its argument: exit 2 naming it', async (_, c) => {
    const r = await runMain([...c.words, ...required(c)]);
    expect(r.code).toBe(2);
    oneLine(r.stderr);
    expect(r.stderr).toContain(`missing argument ${c.args[0]}`);
  });

  const fixed = COMMANDS.filter((c) => c.rest === undefined);
  it.each(fixed.map((c) => [name(c), c] as const))('%s with an extra argument: exit 2 naming it', async (_, c) => {
    const r = await runMain([...c.words, ...c.args.map(() => 'x'), 'surplus', ...required(c)]);
    expect(r.code).toBe(2);
    oneLine(r.stderr);
    // A command with subcommands (gateway, gateway token, clients) takes it for an unknown one of them.
    expect(r.stderr).toMatch(new RegExp(` "(${c.words.join(' ')} )?surplus"`));
  });

  const configured = COMMANDS.filter((c) => required(c).length > 0);
  it.each(configured.map((c) => [name(c), c] as const))('%s without --config: exit 2 naming it', async (_, c) => {
    const r = await runMain([...c.words, ...c.args.map(() => 'x')]);
    expect(r.code).toBe(2);
    oneLine(r.stderr);
    expect(r.stderr).toContain('missing option --config FILE');
    const empty = await runMain([...c.words, ...c.args.map(() => 'x'), '--config']);
    expect(empty.stderr).toContain('--config needs a value (FILE)');
    const twice = await runMain([...c.words, ...c.args.map(() => 'x'), '--config=a', '--config', 'b']);
    expect(twice.stderr).toContain('--config given twice');
  });

  it('an option of a command and of its subcommands has one kind (parsed once for the subcommand)', () => {
    for (const c of COMMANDS) {
      for (const d of COMMANDS.filter((d) => d.words[0] === c.words[0])) {
        for (const [o, spec] of Object.entries(c.options)) {
          if (d.options[o] !== undefined) expect(d.options[o]!.value === undefined).toBe(spec.value === undefined);
        }
      }
    }
  });
});

describe('meshgate --version, help, and lines that name no command', () => {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as {
    version: string;
  };

  it('--version and version print the version in package.json', async () => {
    for (const argv of [['--version'], ['version']]) {
      expect(await runMain(argv)).toEqual({ code: 0, stdout: `meshgate ${pkg.version}\n`, stderr: '' });
    }
  });

  it('--help, -h and help list every command on stdout; a bare meshgate on stderr, exit 2', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      expect(await runMain(argv)).toEqual({ code: 0, stdout: overview(COMMANDS), stderr: '' });
    }
    for (const c of COMMANDS) expect(overview(COMMANDS)).toContain(`  ${c.words.join(' ')}`);
    expect(await runMain([])).toEqual({ code: 2, stdout: '', stderr: overview(COMMANDS) });
  });

  it('an unknown command or subcommand, or option before any command: exit 2, one line', async () => {
    expect((await runMain(['bogus'])).stderr).toBe('meshgate: unknown command "bogus"; try "meshgate --help"\n');
    expect((await runMain(['gateway', 'bogus', '--config', 'x'])).stderr).toBe(
      'meshgate: unknown command "gateway bogus"; try "meshgate gateway --help"\n',
    );
    expect((await runMain(['--bogus'])).stderr).toBe('meshgate: unknown option --bogus; try "meshgate --help"\n');
    expect((await runMain(['help', 'bogus'])).code).toBe(2);
    expect((await runMain(['help', 'gateway', 'leases', 'x'])).stderr).toContain('unexpected argument "x"');
  });

  it('a flag given a value and an option after "--" are usage errors', async () => {
    expect((await runMain(['show', 'mg0', '--json=yes'])).stderr).toContain('--json takes no value');
    expect((await runMain(['show', 'mg0', '--', '--json'])).stderr).toContain('unexpected argument "--json"');
  });

  it('never repeats a key given where an option or argument belongs', async () => {
    const key = generatePrivateKeyText((n) => randomBytes(n));
    for (const argv of [
      ['genkey', `--${key}`],
      ['genkey', key],
      ['show', 'mg0', key],
      [key],
      ['gateway', key, '--config', 'x'],
    ]) {
      const r = await runMain(argv);
      expect(r.code).toBe(2);
      expect(r.stderr).not.toContain(key.slice(0, 16));
      expect(r.stderr).toMatch(/^meshgate: [^\n]*may hold a key[^\n]*\n$/);
    }
  });
});

describe('meshgate up --help (issue 7 #7)', () => {
  it('prints the usage of up and opens no file named --help', async () => {
    const cwd = process.cwd();
    const empty = mkdtempSync(join(tmpdir(), 'mg-cli-help-'));
    try {
      process.chdir(empty); // a relative "--help" would be looked for here
      const r = await runMain(['up', '--help']);
      expect(r).toEqual({
        code: 0,
        stdout: usage(
          COMMANDS.find((c) => c.words[0] === 'up')!,
          COMMANDS,
        ),
        stderr: '',
      });
      expect(r.stdout).toMatch(/^usage: meshgate up <file.conf>\n/);
    } finally {
      process.chdir(cwd);
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

// The same through the compiled command (bin/meshgate.js → dist/, built by npm
// test before the tests run), in a folder without a file named --help.
describe('the compiled command', () => {
  const bin = fileURLToPath(new URL('../../bin/meshgate.js', import.meta.url));

  it('--version and up --help exit 0; up --bogus exits 2 with one line and no stack trace', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'mg-cli-bin-'));
    const meshgate = (...args: string[]) => spawnSync('node', [bin, ...args], { cwd, encoding: 'utf8' });
    try {
      expect(meshgate('--version')).toMatchObject({
        status: 0,
        stdout: expect.stringMatching(/^meshgate \d+\.\d+\.\d+/),
      });
      expect(meshgate('up', '--help')).toMatchObject({
        status: 0,
        stdout: expect.stringMatching(/^usage: meshgate up /),
      });
      expect(meshgate('up', '--bogus')).toMatchObject({
        status: 2,
        stdout: '',
        stderr: 'meshgate: unknown option --bogus; try "meshgate up --help"\n',
      });
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
