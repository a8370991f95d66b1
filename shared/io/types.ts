// The narrow I/O interfaces between meshgate's data plane and the host.
//
// The protocol core (shared/wireguard) never touches these; the peer runner
// (shared/runner) wires a TunDevice and a UdpBind to the core. Linux
// implementations live in tun.ts and udp.ts (backed by the C addon in
// shared/native); in-memory fakes for unit tests live in fakes.ts.
//
// Buffers handed to a receive handler are views into a batch buffer that is
// reused as soon as the handler returns: copy what you keep.

import type { IoError } from './io-error.js';

/** A UDP peer address. Immutable; IPv4 addresses are stored v4-mapped. */
export interface Endpoint {
  /** 16 bytes: an IPv6 address, or ::ffff:a.b.c.d for IPv4. */
  readonly address: Uint8Array;
  readonly port: number;
  /** IPv6 scope (interface index) for link-local addresses, else 0. */
  readonly scopeId: number;
  /** Stable text form, usable as a map key: "192.0.2.1:51820" or "[2001:db8::1]:51820". */
  readonly key: string;
  /**
   * The socket this endpoint was received on, set by the bind that made it
   * (absent for configured endpoints). Not part of the address (`key` ignores
   * it) and not enumerable. A bind of several sockets answers on this one, so
   * whichever datagram the core authenticated decides the socket: no table of
   * who was heard where.
   */
  readonly via?: UdpBind | undefined;
}

export interface TunHandler {
  /** One IP packet read from the TUN device (a view, valid only during the call). */
  packet(data: Uint8Array): void;
  /** Called after the last packet of a batch: a good moment to flush queued output. */
  batchEnd(): void;
  /**
   * Called once when reading stopped for good (the device is gone): nothing
   * more arrives. Without it the error is thrown from the event loop.
   */
  fatal?(error: IoError): void;
}

export interface TunDevice {
  readonly name: string;
  start(handler: TunHandler): void;
  /** Queue one IP packet for the kernel (copied); sent on flush() or when the queue is full. */
  write(packet: Uint8Array): void;
  flush(): void;
  close(): void;
  /** Packets that could not be written (kernel queue full, device gone). */
  readonly writeErrors: number;
}

export interface UdpHandler {
  /** One datagram (a view, valid only during the call) and where it came from. */
  datagram(data: Uint8Array, from: Endpoint): void;
  batchEnd(): void;
  /** Called once when receiving stopped for good; without it the error is thrown from the event loop. */
  fatal?(error: IoError): void;
}

export interface UdpBind {
  /** The local port actually bound (useful when 0 was asked for). */
  readonly port: number;
  start(handler: UdpHandler): void;
  /** Queue one datagram (copied); sent on flush() or when the queue is full. */
  send(data: Uint8Array, to: Endpoint): void;
  flush(): void;
  close(): void;
  readonly sendErrors: number;
}
