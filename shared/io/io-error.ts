// The one way a TUN device or UDP socket fails for good: reading stopped
// (device deleted, fd invalid). The data path is dead then; the handler's
// fatal() hears of it once, and a daemon ends with a non-zero exit so that
// its supervisor restarts it.

import { CodedError } from '../errors.js';

export const IoErrorCodes = [
  'tun-read', // reading the TUN device failed for good
  'udp-read', // receiving on a UDP socket failed for good
] as const;
export type IoErrorCode = (typeof IoErrorCodes)[number];

export class IoError extends CodedError<IoErrorCode> {
  override readonly name = 'IoError';

  constructor(
    code: IoErrorCode,
    /** What failed: "tun mg0", "udp :51820". */
    readonly device: string,
    /** errno name, e.g. EBADFD. */
    readonly errno: string,
  ) {
    super(code, `${device}: ${code === 'tun-read' ? 'reading' : 'receiving'} stopped: ${errno}`);
  }
}
