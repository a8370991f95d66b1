// `meshgate` in-process for CLI tests: main() with stdout and stderr captured
// as written (a secret's buffer may be zeroed right after the write).

import { vi } from 'vitest';
import { main } from '../../shared/cli/main.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs main(argv); `tty` (when given) is what process.stdout.isTTY says meanwhile. */
export async function runMain(argv: string[], opts: { tty?: boolean } = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const grab =
    (into: string[]) =>
    (chunk: unknown, ...rest: unknown[]): boolean => {
      into.push(Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    };
  const o = vi.spyOn(process.stdout, 'write').mockImplementation(grab(out) as typeof process.stdout.write);
  const e = vi.spyOn(process.stderr, 'write').mockImplementation(grab(err) as typeof process.stderr.write);
  const tty = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
  if (opts.tty !== undefined) {
    Object.defineProperty(process.stdout, 'isTTY', { value: opts.tty, configurable: true });
  }
  try {
    const code = await main(argv);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
    if (opts.tty !== undefined) {
      if (tty) Object.defineProperty(process.stdout, 'isTTY', tty);
      else delete (process.stdout as { isTTY?: boolean }).isTTY;
    }
  }
}
