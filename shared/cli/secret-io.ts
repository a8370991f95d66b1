// Secrets on the command line's stdin and stdout (`meshgate pubkey`, genkey,
// genpsk, `gateway export-client`): never through Node's shared Buffer pool,
// and every buffer they passed through is zeroed.

import { fchmodSync, fstatSync } from 'node:fs';
import { UsageError } from './usage-error.js';

/** Most `meshgate pubkey` reads from stdin: a key line, with room to spare. */
const STDIN_KEY_MAX = 4096;

/**
 * Reads stdin (a private key, for pubkey) into a buffer of its own, never
 * Node's shared Buffer pool, and zeroes every buffer the text passed through.
 */
export async function readSecretStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of process.stdin) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      if (length > STDIN_KEY_MAX) {
        throw new UsageError('argument', `more than ${STDIN_KEY_MAX} bytes on stdin: not a key`);
      }
    }
    const all = Buffer.alloc(length);
    let offset = 0;
    for (const chunk of chunks) offset += chunk.copy(all, offset);
    const text = all.toString('utf8');
    all.fill(0);
    return text;
  } finally {
    for (const chunk of chunks) chunk.fill(0);
  }
}

/**
 * Secret output (a private or preshared key, a client's wg-quick file) goes
 * to stdout as `wg genkey` does, with two guards: redirected into a regular
 * file, that file is made 0600 first (the shell created it with the umask),
 * and it is refused when it stays open to group/others (a file of another
 * user); the bytes go out from a buffer of their own (a string written to a
 * file would be encoded into Node's shared Buffer pool), zeroed once written.
 */
export function writeSecret(text: string): void {
  let stat;
  try {
    stat = fstatSync(1);
  } catch {
    stat = null; // no stdout to look at: the write reports what is wrong
  }
  if (stat?.isFile() === true) {
    try {
      fchmodSync(1, 0o600);
    } catch {
      // not our file: checked below
    }
    const mode = fstatSync(1).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new UsageError(
        'refused',
        `stdout is a file that group/others may read (mode ${mode.toString(8).padStart(4, '0')}) and cannot be made 0600: not writing a secret to it`,
      );
    }
  }
  const bytes = Buffer.alloc(Buffer.byteLength(text));
  bytes.write(text);
  process.stdout.write(bytes, () => bytes.fill(0));
}
