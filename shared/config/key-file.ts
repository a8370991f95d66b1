// Opening and reading files that hold secrets: key files named in the gateway
// and client YAML, and wg-quick files with their inline PrivateKey.
//
//   open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) → fstat(fd) → checks → read → close
//
// Every check looks at the opened descriptor, never at the path again, so the
// file cannot be swapped between check and read. The rules:
//   - not a symbolic link (O_NOFOLLOW on the last component; folders above it
//     are the administrator's business);
//   - a regular file (a FIFO would block the reader forever, a device or a
//     folder is a mistake); O_NONBLOCK makes opening a FIFO return at once;
//   - owned by the user we run as, or by root (root is trusted anyway: it can
//     read every file), never by someone else, who could change it;
//   - at most `maxBytes` long.
// The mode is returned for the caller: the YAML loaders refuse a key file that
// group or others may access, `meshgate up` warns, as wg-quick does.
//
// Bytes are read into a buffer of their own (never Node's shared Buffer pool)
// that the caller wipes after decoding it.

import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { CodedError } from '../errors.js';

/** The closed list of reasons a secret file is refused. */
export const SecretFileErrorCodes = [
  'missing', // no such file
  'unreadable', // permission denied or another I/O error
  'symlink', // the path names a symbolic link
  'not-regular', // a folder, FIFO, socket or device
  'owner', // owned by another user than us or root
  'too-large', // more than the caller's limit
] as const;

/** Why a secret file was refused; the message says what is wrong, without the file's name (the caller adds it). */
export class SecretFileError extends CodedError<(typeof SecretFileErrorCodes)[number]> {
  override readonly name = 'SecretFileError';
}

export interface SecretFile {
  /** The content, in a buffer of its own: wipe it when done. */
  bytes: Buffer;
  /** Permission bits (0o777 part of st_mode). */
  mode: number;
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** The uid we run as (file access goes by the effective uid). */
function ourUid(): number | null {
  return typeof process.geteuid === 'function' ? process.geteuid() : null;
}

function openChecked(path: string): { fd: number; stat: Stats } {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    throw openProblem(e);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      throw new SecretFileError('not-regular', `is ${kindOf(stat)}, not a regular file`);
    }
    const uid = ourUid();
    if (uid !== null && stat.uid !== uid && stat.uid !== 0) {
      throw new SecretFileError(
        'owner',
        `is owned by uid ${stat.uid}, not by us (uid ${uid}) or root: another user could change it`,
      );
    }
    return { fd, stat };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Opens and checks a secret file without reading it (a check at load time for a key only read on demand). */
export function checkSecretFile(path: string): { mode: number } {
  const { fd, stat } = openChecked(path);
  closeSync(fd);
  return { mode: stat.mode & 0o777 };
}

/** Opens, checks and reads a secret file of at most `maxBytes`. */
export function readSecretFile(path: string, maxBytes: number): SecretFile {
  const { fd, stat } = openChecked(path);
  // One byte more than allowed, to see a file that is too large (it may grow after fstat).
  const bytes = Buffer.alloc(maxBytes + 1);
  try {
    let length = 0;
    for (;;) {
      const n = readSync(fd, bytes, length, bytes.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) throw new SecretFileError('too-large', `is larger than ${maxBytes} bytes`);
    }
    const content = Buffer.alloc(length);
    bytes.copy(content, 0, 0, length);
    return { bytes: content, mode: stat.mode & 0o777 };
  } catch (e) {
    if (e instanceof SecretFileError) throw e;
    throw new SecretFileError('unreadable', `cannot be read: ${errnoText(e)}`);
  } finally {
    bytes.fill(0);
    closeSync(fd);
  }
}

function openProblem(e: unknown): SecretFileError {
  switch ((e as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return new SecretFileError('missing', 'does not exist');
    case 'ELOOP':
      return new SecretFileError('symlink', 'is a symbolic link (name the file itself)');
    case 'EACCES':
    case 'EPERM':
      return new SecretFileError('unreadable', 'cannot be read: permission denied');
    case 'ENXIO':
      return new SecretFileError('not-regular', 'is a socket or device, not a regular file');
    default:
      return new SecretFileError('unreadable', `cannot be read: ${errnoText(e)}`);
  }
}

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EISDIR') return 'it is a directory';
  return code ?? 'unknown error';
}

function kindOf(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'not a regular file';
}
