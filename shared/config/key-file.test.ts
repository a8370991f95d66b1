// Secret files are checked on the opened descriptor: symbolic links, FIFOs
// (which would block a reader forever), folders, devices and files of another
// owner are refused with one line; the content comes back in memory of its
// own. The owner test needs root (chown), as the test suite runs.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSecretFile, readSecretFile, SecretFileError } from './key-file.js';
import { expectCoded } from '../../test/support/thrown.js';

const KEY = 'qPZ4oLZHxZtcUfL3kzgSYD66ztKdPcfnCHeuUvRzBVw=';
const isRoot = process.geteuid?.() === 0;
let dir: string;
let keyFile: string;

function refused(path: string, code: SecretFileError['code'], pattern: RegExp): void {
  for (const attempt of [() => readSecretFile(path, 256), () => checkSecretFile(path)]) {
    const error = expectCoded(attempt, SecretFileError, code, pattern);
    expect(error.message).not.toContain('\n');
  }
}

describe('readSecretFile / checkSecretFile (Hardening #12)', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mg-keyfile-'));
    keyFile = join(dir, 'good.key');
    writeFileSync(keyFile, KEY + '\n', { mode: 0o600 });
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads a regular file of ours into a buffer of its own, with its mode', () => {
    chmodSync(keyFile, 0o640);
    const file = readSecretFile(keyFile, 256);
    expect(file.bytes.toString('latin1')).toBe(KEY + '\n');
    expect(file.mode).toBe(0o640);
    expect(file.bytes.buffer.byteLength).toBe(file.bytes.length); // not a slice of the shared pool
    expect(checkSecretFile(keyFile).mode).toBe(0o640);
    chmodSync(keyFile, 0o600);
  });

  it('refuses a symbolic link, even to a good key file', () => {
    const link = join(dir, 'link.key');
    symlinkSync(keyFile, link);
    refused(link, 'symlink', /^is a symbolic link/);
  });

  it('refuses a FIFO at once instead of blocking on it', () => {
    const fifo = join(dir, 'fifo.key');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const started = Date.now();
    refused(fifo, 'not-regular', /^is a FIFO \(named pipe\), not a regular file$/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('refuses a directory and a device', () => {
    const sub = join(dir, 'sub.key');
    mkdirSync(sub);
    refused(sub, 'not-regular', /^is a directory, not a regular file$/);
    refused('/dev/null', 'not-regular', /^is a device, not a regular file$/);
  });

  it.runIf(isRoot)("refuses a file owned by another user, but not root's", () => {
    const theirs = join(dir, 'theirs.key');
    writeFileSync(theirs, KEY + '\n', { mode: 0o600 });
    chownSync(theirs, 65534, 65534);
    refused(theirs, 'owner', /^is owned by uid 65534, not by us \(uid 0\) or root/);
    chownSync(theirs, 0, 0);
    expect(readSecretFile(theirs, 256).bytes.toString('latin1')).toBe(KEY + '\n');
  });

  it('refuses a missing or too large file', () => {
    refused(join(dir, 'absent.key'), 'missing', /^does not exist$/);
    const big = join(dir, 'big.key');
    writeFileSync(big, 'A'.repeat(300), { mode: 0o600 });
    expect(() => readSecretFile(big, 256)).toThrow(/^is larger than 256 bytes$/);
  });
});
