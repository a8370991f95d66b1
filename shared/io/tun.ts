// A Linux TUN device (IFF_TUN | IFF_NO_PI) behind the TunDevice interface.
//
// Packet flow
//   kernel → TUN fd readable → addon reads up to `slots` packets into rxBuf →
//   onBatch(count) → handler.packet(view) for each → handler.batchEnd()
//   handler/runner → write(packet) copies into txBuf → flush() (or a full
//   batch) → addon write()s each packet → kernel
//
// A read error that stops the device (deleted, fd gone) goes to
// handler.fatal() once, as an IoError.
//
// Per packet, the receive path allocates only a subarray view; the send path
// only copies. Addresses, MTU and routes are not set here: the runner does
// that with `ip`. An open, started device keeps the process alive until
// close().

import { INTERFACE_NAME_RULE, isInterfaceName } from '../net/address.js';
import { BatchedHandle, checkSize } from './batched-handle.js';
import { loadNative, type NativeStats } from './native.js';
import type { TunDevice, TunHandler } from './types.js';

export const TUN_DEFAULT_SLOTS = 64;
export const TUN_DEFAULT_SLOT_SIZE = 2048; // MTU ≤ 1500 is typical; up to 65536
const IP_MAX_PACKET = 65535; // IPv4 total length / IPv6 payload length field limit

export interface TunOptions {
  /** Packets per receive and send batch (1..1024, default 64). */
  slots?: number;
  /** Bytes per packet slot (default 2048); larger received packets are dropped and counted. */
  slotSize?: number;
}

export interface TunStats extends NativeStats {
  /** Packets passed to write() that could not be written (also too large, or after close). */
  writeErrors: number;
}

export class LinuxTun extends BatchedHandle<TunHandler> implements TunDevice {
  readonly name: string;

  constructor(name: string, opts: TunOptions = {}) {
    const native = loadNative();
    const slots = checkSize('slots', opts.slots ?? TUN_DEFAULT_SLOTS, 1, native.maxSlots);
    const slotSize = checkSize('slotSize', opts.slotSize ?? TUN_DEFAULT_SLOT_SIZE, 1, native.maxSlotSize);
    // The one interface-name rule; "" or a "%d" template lets the kernel choose.
    if (name !== '' && !isInterfaceName(name.replace('%d', '0')))
      throw new RangeError(`bad TUN device name "${name}" (${INTERFACE_NAME_RULE})`);
    const opened = native.tunOpen(name);
    super(native, opened.handle, slots, slotSize, `tun ${opened.name}`);
    this.name = opened.name;
  }

  protected readonly onBatch = (count: number): void => {
    if (count < 0) {
      this.readFailed('tun-read', -count);
      return;
    }
    const buf = this.rxBuf!;
    const lens = this.rxLens!;
    const handler = this.handler!;
    const size = this.slotSize;
    for (let i = 0; i < count; i++) {
      const off = i * size;
      handler.packet(buf.subarray(off, off + lens[i]!));
    }
    handler.batchEnd();
  };

  write(packet: Uint8Array): void {
    const len = packet.length;
    if (this.closed || len === 0 || len > IP_MAX_PACKET) {
      this.errors++;
      return;
    }
    if (len > this.slotSize) {
      // Rare: a packet larger than a slot goes out on its own, unbatched.
      this.flush();
      this.oneLen[0] = len;
      this.errors += this.native.tunWrite(this.handle, packet, this.oneLen, 1, len);
      return;
    }
    const n = this.txCount;
    this.txBuf.set(packet, n * this.slotSize);
    this.txLens[n] = len;
    this.txCount = n + 1;
    if (this.txCount === this.slots) this.flush();
  }

  flush(): void {
    const n = this.txCount;
    if (n === 0) return;
    this.txCount = 0;
    this.errors += this.native.tunWrite(this.handle, this.txBuf, this.txLens, n, this.slotSize);
  }

  get writeErrors(): number {
    return this.errors;
  }

  stats(): TunStats {
    return { ...this.native.stats(this.handle), writeErrors: this.errors };
  }
}

/**
 * Opens (creates, or attaches to a persistent) Linux TUN device. An empty name
 * or one with "%d" lets the kernel choose; `.name` tells the actual name.
 * Throws an Error with `code` (errno name) if it cannot be opened.
 */
export function openTun(name: string, opts?: TunOptions): LinuxTun {
  return new LinuxTun(name, opts);
}
