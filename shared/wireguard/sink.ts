// What every entry point of the protocol core takes besides the packet: the
// time (the core never reads a clock) and where its output goes (it never
// opens a socket or a device).

import type { PeerEndpoint } from './peer.js';

/** The two clocks the device needs: monotonic ms for timers, wall-clock ms for TAI64N. */
export interface Now {
  readonly mono: number;
  readonly wall: number;
}

/**
 * Where the device's output goes. Buffers passed to the sink are only valid
 * during the call: the I/O layer copies them into its send batch.
 */
export interface Sink {
  toNetwork(data: Uint8Array, to: PeerEndpoint): void;
  toTunnel(packet: Uint8Array): void;
}
