// Typed access to the native I/O addon (shared/native/io/), built by
// node-gyp into build/Release/meshgate_io.node during `npm ci`.
//
// The addon is loaded lazily, on first use, so modules that merely import the
// Linux TUN/UDP code still load (and their fakes still work) where it was not
// built. Its contract (batch layout, error behaviour, lifetime) is described at
// the top of the C file.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENDPOINT_RECORD_LEN } from './endpoint.js';

declare const ioHandleBrand: unique symbol;
/** An open TUN device or UDP socket inside the addon (opaque). */
export interface IoHandle {
  readonly [ioHandleBrand]: true;
}

/** Counters kept by the addon for one handle. */
export interface NativeStats {
  rxPackets: number;
  rxBatches: number;
  /** Packets larger than a slot (truncated by the kernel), skipped. */
  rxDropped: number;
  /** Transient receive errors (e.g. an ICMP error reported on the socket). */
  rxErrors: number;
  txPackets: number;
  txErrors: number;
  /** Times a send waited for the kernel queue to drain. */
  txWaits: number;
  /** UDP: UDP_SEGMENT (GSO) is in use for sending (off, unsupported, or switched off by a fallback: false). */
  gso: boolean;
  /** UDP: UDP_GRO is set on the socket. */
  gro: boolean;
  /** UDP GSO: sendmmsg entries that carried several datagrams (one super-datagram each). */
  gsoSends: number;
  /** UDP GSO: datagrams carried by those entries. */
  gsoSegments: number;
  /** UDP GSO: coalesced entries the kernel refused; their datagrams were resent one by one. */
  gsoRefused: number;
  /** UDP GSO: errno name of the refusal that switched GSO off for this socket, '' if none. */
  gsoFallback: string;
  /** UDP GRO: received entries that held several datagrams. */
  groReceives: number;
  /** UDP GRO: datagrams split out of those entries. */
  groSegments: number;
  /** errno name of the last data-path error, '' if none. */
  lastError: string;
  /** errno name of the read error that stopped receiving, '' if none. */
  fatalError: string;
}

export interface NativeIo {
  /** Version of this interface; the loader refuses an addon built from other sources. */
  readonly apiVersion: number;
  readonly recordLen: number;
  readonly maxSlots: number;
  readonly maxSlotSize: number;
  /** Creates (or attaches to a persistent) TUN device, IFF_TUN | IFF_NO_PI, non-blocking. */
  tunOpen(name: string): { handle: IoHandle; name: string };
  /**
   * A non-blocking UDP socket bound to `address` (a 24-byte endpoint record; its
   * port is ignored) and `port`; family 6 sockets are dual-stack (IPV6_V6ONLY=0).
   * `flags` (default 0): UDP_OPEN_GSO coalesces equal-size runs to one
   * destination with UDP_SEGMENT, UDP_OPEN_GRO sets UDP_GRO; `gso`/`gro` in the
   * result tell what the kernel accepted. `mark` (default 0: none) is set as
   * SO_MARK, the firewall mark of everything the socket sends.
   */
  udpOpen(
    family: 4 | 6,
    address: Uint8Array,
    port: number,
    bufBytes: number,
    flags?: number,
    mark?: number,
  ): { handle: IoHandle; port: number; family: 4 | 6; gso: boolean; gro: boolean };
  /**
   * Starts polling: each readable wake-up reads up to `slots` packets into
   * rxBuf (slot i at i * slotSize), their lengths into rxLens and (UDP) their
   * sources into rxAddrs, then calls onBatch(count). A negative count is
   * -errno of a read error that stopped receiving.
   */
  start(
    handle: IoHandle,
    rxBuf: Uint8Array,
    rxLens: Int32Array,
    rxAddrs: Uint8Array | null,
    slots: number,
    slotSize: number,
    onBatch: (count: number) => void,
  ): void;
  /** Writes packets 0..count-1 (slot i at i * slotSize); returns how many failed. */
  tunWrite(handle: IoHandle, buf: Uint8Array, lens: Int32Array, count: number, slotSize: number): number;
  /** Sends datagrams 0..count-1 to the records in addrs with sendmmsg; returns how many failed. */
  udpSend(
    handle: IoHandle,
    buf: Uint8Array,
    lens: Int32Array,
    addrs: Uint8Array,
    count: number,
    slotSize: number,
  ): number;
  /** Stops polling and closes the fd; idempotent. */
  close(handle: IoHandle): void;
  stats(handle: IoHandle): NativeStats;
  /** Interface index in the calling thread's network namespace, 0 if none. */
  ifindex(name: string): number;
  errnoName(errno: number): string;
  /** Runs fn with this thread in the network namespace at `path`, then switches back. */
  inNetns<T>(path: string, fn: () => T): T;
}

const ADDON = join('build', 'Release', 'meshgate_io.node');
/** Bump together with API_VERSION in the C file when the addon's interface changes. */
const NATIVE_API_VERSION = 3;

/** udpOpen flags (same values as OPEN_* in the C file). */
export const UDP_OPEN_GSO = 0x1;
export const UDP_OPEN_GRO = 0x2;
/** Tests only: sets SO_NO_CHECK, which makes the kernel refuse UDP_SEGMENT (EINVAL). */
export const UDP_OPEN_TEST_NO_CHECK = 0x100;

export class NativeUnavailableError extends Error {
  readonly code = 'ERR_MESHGATE_NATIVE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NativeUnavailableError';
  }
}

/** The package root: the nearest directory above this file with a package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new NativeUnavailableError('meshgate: cannot find the package root (package.json)');
    dir = up;
  }
}

let loaded: NativeIo | undefined;

/** The addon; throws NativeUnavailableError if it was not built or does not fit this code. */
export function loadNative(): NativeIo {
  if (loaded) return loaded;
  if (process.platform !== 'linux') throw new NativeUnavailableError('meshgate native I/O needs Linux');
  const path = join(packageRoot(), ADDON);
  if (!existsSync(path))
    throw new NativeUnavailableError(
      `meshgate native I/O addon not built (${path} is missing): run npm ci / npm run build`,
    );
  let mod: NativeIo;
  try {
    mod = createRequire(import.meta.url)(path) as NativeIo;
  } catch (err) {
    throw new NativeUnavailableError(
      `meshgate native I/O addon ${path} failed to load (${(err as Error).message}): run npm ci / npm run build`,
      { cause: err },
    );
  }
  if (mod.recordLen !== ENDPOINT_RECORD_LEN || mod.apiVersion !== NATIVE_API_VERSION)
    throw new NativeUnavailableError(
      `meshgate native I/O addon is stale (record length ${mod.recordLen}, API version ${mod.apiVersion}): run npm run build`,
    );
  loaded = mod;
  return mod;
}

/** True when the addon can be loaded here. */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}

/** Interface name → index in the current network namespace (0 if none), via the addon. */
export function ifindex(name: string): number {
  return loadNative().ifindex(name);
}

/**
 * Runs fn (synchronously) with this thread in a network namespace: a name
 * from `ip netns` ("mg-io-123" → /run/netns/mg-io-123) or a path. TUN devices
 * and sockets opened inside fn belong to that namespace and stay there.
 */
export function inNetns<T>(netns: string, fn: () => T): T {
  const path = netns.includes('/') ? netns : `/run/netns/${netns}`;
  return loadNative().inNetns(path, fn);
}
