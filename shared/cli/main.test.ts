// The command line's handling of secrets, in-process: `meshgate up` refuses a
// wg-quick file that is a symbolic link or a FIFO with one line and exit 2,
// before anything on the host changes; keys read from stdin or written to
// stdout never pass through Node's shared Buffer pool.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { inSharedPool } from '../../test/support/secrets.js';
import { generatePrivateKeyText, publicKeyText } from '../wireguard/keys.js';
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
