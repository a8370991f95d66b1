// What LinuxTun and LinuxUdp share around their addon handle: the receive and
// send batch buffers, start() once, the fatal read error, flush-then-close,
// and the error count. The per-packet paths (onBatch, write/send) stay in the
// subclasses, so a packet costs no extra call.

import { IoError, type IoErrorCode } from './io-error.js';
import type { IoHandle, NativeIo } from './native.js';

/** Checks a size option: an integer in min..max, else a RangeError naming it. */
export function checkSize(what: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new RangeError(`${what} must be an integer in ${min}..${max}, got ${value}`);
  return value;
}

export abstract class BatchedHandle<H extends { fatal?: (error: IoError) => void }> {
  protected readonly txBuf: Uint8Array;
  protected readonly txLens: Int32Array;
  protected readonly oneLen = new Int32Array(1);
  protected txCount = 0;
  protected rxBuf: Uint8Array | undefined;
  protected rxLens: Int32Array | undefined;
  protected handler: H | undefined;
  protected closed = false;
  protected errors = 0;
  protected fatal = '';

  /** label names the handle in errors ("tun mg0", "udp :51820"). */
  constructor(
    protected readonly native: NativeIo,
    protected readonly handle: IoHandle,
    protected readonly slots: number,
    protected readonly slotSize: number,
    private readonly label: string,
  ) {
    this.txBuf = new Uint8Array(slots * slotSize);
    this.txLens = new Int32Array(slots);
  }

  /** Receives a batch: count packets in rxBuf, or -errno when reading stopped for good. */
  protected abstract readonly onBatch: (count: number) => void;

  /** Sends what is queued. */
  abstract flush(): void;

  /** Source-address records for a receive batch (UDP), or null (TUN). */
  protected receiveAddresses(): Uint8Array | null {
    return null;
  }

  start(handler: H): void {
    if (this.closed) throw new Error(`${this.label}: start() after close()`);
    if (this.handler) throw new Error(`${this.label}: already started`);
    this.handler = handler;
    this.rxBuf = new Uint8Array(this.slots * this.slotSize);
    this.rxLens = new Int32Array(this.slots);
    const addrs = this.receiveAddresses();
    this.native.start(this.handle, this.rxBuf, this.rxLens, addrs, this.slots, this.slotSize, this.onBatch);
  }

  /** onBatch(-errno): remembers the errno name and tells handler.fatal() (thrown without one). */
  protected readFailed(stage: IoErrorCode, errno: number): void {
    this.fatal = this.native.errnoName(errno);
    const error = new IoError(stage, this.label, this.fatal);
    if (this.handler!.fatal === undefined) throw error;
    this.handler!.fatal(error);
  }

  /** Flushes what is queued, stops reading and closes the handle (idempotent). */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.native.close(this.handle);
  }

  /** errno name of the read error that stopped receiving ('' while healthy). */
  get readError(): string {
    return this.fatal;
  }
}
