// The command line's handling of secret files, in-process: `meshgate up`
// refuses a wg-quick file that is a symbolic link or a FIFO with one line and
// exit 2, before anything on the host changes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from './main.js';

const CONF = `[Interface]
PrivateKey = qPZ4oLZHxZtcUfL3kzgSYD66ztKdPcfnCHeuUvRzBVw=
`;

let dir: string;

async function run(argv: string[]): Promise<{ code: number; stderr: string }> {
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    const code = await main(argv);
    return { code, stderr: err.mock.calls.map((c) => String(c[0])).join('') };
  } finally {
    err.mockRestore();
    out.mockRestore();
  }
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
