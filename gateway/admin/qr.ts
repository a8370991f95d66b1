// QR codes of a client's wg-quick config, for a phone's WireGuard app to scan:
// drawn in the terminal (ANSI colours, two modules per character cell) or
// written as a PNG. The config holds the client's private key, so the PNG is
// created 0600 (an existing file is made 0600 before it is written) and the
// buffers it passed through are zeroed.
//
// `qrcode` (node-qrcode) encodes; error correction M, as the WireGuard apps'
// own exports use, fits a full config (~300 bytes) in a version 10 symbol.

import { closeSync, constants, fchmodSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import QRCode from 'qrcode';
import { UsageError } from '../../shared/cli/usage-error.js';
import { showPath } from '../../shared/config/redact.js';

const ERROR_CORRECTION = 'M';
/** Pixels per module of the PNG, and its quiet zone in modules. */
const PNG_SCALE = 8;
const PNG_MARGIN = 4;
const PNG_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** The QR code of `text` for a terminal; lines end with '\n'. */
export async function qrTerminal(text: string): Promise<string> {
  const drawn = await QRCode.toString(text, { type: 'terminal', small: true, errorCorrectionLevel: ERROR_CORRECTION });
  return drawn.endsWith('\n') ? drawn : drawn + '\n';
}

/** Writes the QR code of `text` as a PNG to `path`, mode 0600 (not through a symbolic link). */
export async function writeQrPng(path: string, text: string): Promise<void> {
  const png = await QRCode.toBuffer(text, {
    type: 'png',
    errorCorrectionLevel: ERROR_CORRECTION,
    scale: PNG_SCALE,
    margin: PNG_MARGIN,
  });
  try {
    let fd: number;
    try {
      fd = openSync(path, PNG_FLAGS, 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why =
        code === 'ELOOP'
          ? 'is a symbolic link (name the file itself)'
          : code === 'ENXIO'
            ? 'is a FIFO or device, not a regular file'
            : `cannot be written: ${code ?? 'unknown error'}`;
      throw new UsageError('argument', `--png: ${showPath(path)} ${why}`);
    }
    try {
      if (!fstatSync(fd).isFile()) throw new UsageError('argument', `--png: ${showPath(path)} is not a regular file`);
      fchmodSync(fd, 0o600);
      ftruncateSync(fd, 0);
      let offset = 0;
      while (offset < png.length) offset += writeSync(fd, png, offset);
    } finally {
      closeSync(fd);
    }
  } finally {
    png.fill(0);
  }
}
