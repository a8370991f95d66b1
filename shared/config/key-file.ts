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
// group or others may access (readKeyFile, checkKeyFile below), `meshgate up`
// warns, as wg-quick does.
//
// Bytes are read into a buffer of their own (never Node's shared Buffer pool)
// that the caller wipes after decoding it.

import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { CodedError } from '../errors.js';
import { wipe } from '../wireguard/crypto.js';
import { parseKey } from '../wireguard/keys.js';
import { FieldError } from './config-error.js';
import { showPath } from './redact.js';

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

// ---------------------------------------------------------------------------
// Key files named in the YAML configurations

/** Largest key file accepted: a key line with some whitespace around it. */
const KEY_FILE_MAX = 256;

/** What a loaded configuration holds of its own key. Holds the private key: never log it whole. */
export interface OwnKeyConfig {
  /** The configuration file as given, for messages. */
  file: string;
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  /** Absolute path (relative paths are resolved against the configuration file's folder). */
  privateKeyFile: string;
}

/**
 * Runs one step of a configuration load that holds the secrets read so far:
 * if the step throws, they are wiped first (no configuration comes out, so
 * nobody else will wipe them).
 */
export function wipeIfThrows<T>(secrets: () => (Uint8Array | null)[], step: () => T): T {
  try {
    return step();
  } catch (e) {
    wipe(...secrets());
    throw e;
  }
}

/**
 * Reads a key file (base64 as `meshgate genkey` / `wg genkey` writes it). It
 * must be a regular file, not a symbolic link, owned by us or root, without
 * any group or other permission bits (shared/config/key-file.ts). The message
 * names the file and the problem, never its content. The key comes back in
 * memory of its own (not Node's shared Buffer pool): wipe it when done.
 */
export function readKeyFile(path: string, field: string): Uint8Array {
  let file;
  try {
    file = readSecretFile(path, KEY_FILE_MAX);
  } catch (e) {
    throw keyFileProblem(e, path, field);
  }
  try {
    refuseOpenMode(file.mode, path, field);
    try {
      return parseKey(file.bytes.toString('latin1'));
    } catch {
      throw new FieldError(
        field,
        'key-file',
        `${showPath(path)} does not hold a WireGuard key (44 characters of base64, as meshgate genkey writes)`,
      );
    }
  } finally {
    wipe(file.bytes);
  }
}

/**
 * Checks a key file as readKeyFile does, without reading the key: for a key
 * that is only read on demand (a stock client's, by export-client).
 */
export function checkKeyFile(path: string, field: string): void {
  let mode: number;
  try {
    mode = checkSecretFile(path).mode;
  } catch (e) {
    throw keyFileProblem(e, path, field);
  }
  refuseOpenMode(mode, path, field);
}

function refuseOpenMode(mode: number, path: string, field: string): void {
  if ((mode & 0o077) === 0) return;
  const shown = showPath(path);
  throw new FieldError(
    field,
    'key-file',
    `${shown} has mode ${mode.toString(8).padStart(4, '0')}: group/others may access it (chmod 600 ${shown})`,
  );
}

function keyFileProblem(e: unknown, path: string, field: string): FieldError {
  if (!(e instanceof SecretFileError)) throw e;
  if (e.code === 'too-large')
    return new FieldError(field, 'key-file', `${showPath(path)} is too large to be a key file`);
  return new FieldError(field, 'key-file', `${showPath(path)} ${e.message}`);
}
