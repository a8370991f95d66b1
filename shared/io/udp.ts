// A Linux UDP socket behind the UdpBind interface, batched with recvmmsg/sendmmsg.
//
// Packet flow
//   network → socket readable → addon recvmmsg()s up to `slots` datagrams into
//   rxBuf, lengths into rxLens, sources as 24-byte records into rxAddrs →
//   onBatch(count) → handler.datagram(view, endpoint) for each → batchEnd()
//   runner → send(data, to) copies data and to's record into the tx batch →
//   flush() (or a full batch) → addon sendmmsg() → network
//   a receive error that stops the socket → handler.fatal(IoError), once
//
// One dual-stack AF_INET6 socket (IPV6_V6ONLY=0) unless bound to an IPv4
// address (then AF_INET), falling back to AF_INET where IPv6 is unavailable.
// Per datagram, receiving allocates only a subarray view: source Endpoints
// come from a small cache keyed by the record, so a steady flow from a few
// peers creates no objects. Each source Endpoint carries this socket as its
// `via` (the cache belongs to the socket).
//
// Segmentation offloads, both on by default where the kernel has them: GSO
// (the addon sends each run of equal-size datagrams to one peer as one
// UDP_SEGMENT super-datagram) and GRO (the kernel may hand over several
// datagrams of one peer at once; the addon splits them back into slots). The
// handler sees the same datagrams either way. MESHGATE_UDP_GSO=0 /
// MESHGATE_UDP_GRO=0 in the environment switch them off (read once, when this
// module loads); UdpOptions.gso / .gro override per socket.

import { endpointFromBytes, ENDPOINT_RECORD_LEN, parseAddress, writeEndpointRecord } from './endpoint.js';
import { BatchedHandle, checkSize } from './batched-handle.js';
import { loadNative, UDP_OPEN_GRO, UDP_OPEN_GSO, type NativeIo, type NativeStats } from './native.js';
import type { Endpoint, UdpBind, UdpHandler } from './types.js';

export const UDP_DEFAULT_SLOTS = 64;
export const UDP_DEFAULT_SLOT_SIZE = 2048; // a WireGuard datagram is MTU + 32 bytes
export const UDP_DEFAULT_SOCKET_BUFFER = 4 << 20; // SO_RCVBUF / SO_SNDBUF (FORCE when root)
const UDP_MAX_PAYLOAD = 65527; // 65535 - 8-byte UDP header (IPv6; IPv4 is 20 bytes less)
const ENDPOINT_CACHE_SIZE = 8;
const RECORD_WORDS = ENDPOINT_RECORD_LEN / 4;

/** The offload defaults from the environment: on unless set to "0". */
export const UDP_GSO_DEFAULT = process.env.MESHGATE_UDP_GSO !== '0';
export const UDP_GRO_DEFAULT = process.env.MESHGATE_UDP_GRO !== '0';

export interface UdpOptions {
  /** Local port; 0 picks a free one (see `.port`). */
  port: number;
  /** Bind address literal (IPv4, or IPv6 with optional %zone); default dual-stack any. */
  address?: string;
  /** Datagrams per receive and send batch (1..1024, default 64). */
  slots?: number;
  /** Bytes per datagram slot (default 2048); larger datagrams are dropped and counted. */
  slotSize?: number;
  /** Socket buffer size in bytes (default 4 MiB). */
  socketBuffer?: number;
  /** Send equal-size runs to one peer as UDP GSO super-datagrams (default: on unless MESHGATE_UDP_GSO=0). */
  gso?: boolean;
  /** Let the kernel hand over UDP GRO super-datagrams (default: on unless MESHGATE_UDP_GRO=0). */
  gro?: boolean;
  /** Firewall mark (SO_MARK) of everything sent, 1..2^32-1; default none (needs CAP_NET_ADMIN). */
  mark?: number;
}

export interface UdpStats extends NativeStats {
  /** Datagrams passed to send() that could not be sent (also too large, or after close). */
  sendErrors: number;
}

function isAfUnsupported(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'EAFNOSUPPORT' || code === 'EPROTONOSUPPORT';
}

export class LinuxUdp extends BatchedHandle<UdpHandler> implements UdpBind {
  readonly port: number;
  /** 6 for a (dual-stack) AF_INET6 socket, 4 for AF_INET. */
  readonly family: 4 | 6;
  private readonly txAddrs: Uint8Array;
  private readonly oneAddr = new Uint8Array(ENDPOINT_RECORD_LEN);
  private rxAddrs: Uint8Array | undefined;
  private rxWords: Uint32Array | undefined;
  // Recently seen sources: RECORD_WORDS words per entry, compared word by word.
  private readonly cacheWords = new Uint32Array(ENDPOINT_CACHE_SIZE * RECORD_WORDS);
  private readonly cacheEndpoints: (Endpoint | undefined)[] = new Array(ENDPOINT_CACHE_SIZE).fill(undefined);
  private cacheNext = 0;

  constructor(opts: UdpOptions) {
    const native = loadNative();
    checkSize('port', opts.port, 0, 65535);
    const slots = checkSize('slots', opts.slots ?? UDP_DEFAULT_SLOTS, 1, native.maxSlots);
    const slotSize = checkSize('slotSize', opts.slotSize ?? UDP_DEFAULT_SLOT_SIZE, 1, native.maxSlotSize);
    const bufBytes = checkSize('socketBuffer', opts.socketBuffer ?? UDP_DEFAULT_SOCKET_BUFFER, 0, 1 << 30);
    const flags =
      ((opts.gso ?? UDP_GSO_DEFAULT) ? UDP_OPEN_GSO : 0) | ((opts.gro ?? UDP_GRO_DEFAULT) ? UDP_OPEN_GRO : 0);
    const mark = checkSize('mark', opts.mark ?? 0, 0, 0xffff_ffff);
    const record = new Uint8Array(ENDPOINT_RECORD_LEN);
    let opened: ReturnType<NativeIo['udpOpen']>;
    if (opts.address !== undefined) {
      const { address, scopeId } = parseAddress(opts.address, { ifindex: (name) => native.ifindex(name) || undefined });
      record.set(address, 0);
      new DataView(record.buffer).setUint32(20, scopeId, true);
      const v4 = address[10] === 0xff && address[11] === 0xff && address.subarray(0, 10).every((b) => b === 0);
      opened = native.udpOpen(v4 ? 4 : 6, record, opts.port, bufBytes, flags, mark);
    } else {
      try {
        opened = native.udpOpen(6, record, opts.port, bufBytes, flags, mark); // [::]: dual-stack any
      } catch (err) {
        if (!isAfUnsupported(err)) throw err;
        record[10] = 0xff; // 0.0.0.0 as ::ffff:0.0.0.0
        record[11] = 0xff;
        opened = native.udpOpen(4, record, opts.port, bufBytes, flags, mark);
      }
    }
    super(native, opened.handle, slots, slotSize, `udp :${opened.port}`);
    this.port = opened.port;
    this.family = opened.family;
    this.txAddrs = new Uint8Array(slots * ENDPOINT_RECORD_LEN);
  }

  protected override receiveAddresses(): Uint8Array {
    this.rxAddrs = new Uint8Array(this.slots * ENDPOINT_RECORD_LEN);
    this.rxWords = new Uint32Array(this.rxAddrs.buffer);
    return this.rxAddrs;
  }

  protected readonly onBatch = (count: number): void => {
    if (count < 0) {
      this.readFailed('udp-read', -count);
      return;
    }
    const buf = this.rxBuf!;
    const lens = this.rxLens!;
    const handler = this.handler!;
    const size = this.slotSize;
    for (let i = 0; i < count; i++) {
      const off = i * size;
      handler.datagram(buf.subarray(off, off + lens[i]!), this.sourceOf(i));
    }
    handler.batchEnd();
  };

  /** The Endpoint for receive record i, from the cache when seen recently. */
  private sourceOf(i: number): Endpoint {
    const words = this.rxWords!;
    const cache = this.cacheWords;
    const r = i * RECORD_WORDS;
    for (let e = 0; e < ENDPOINT_CACHE_SIZE; e++) {
      const c = e * RECORD_WORDS;
      if (
        cache[c] === words[r] &&
        cache[c + 1] === words[r + 1] &&
        cache[c + 2] === words[r + 2] &&
        cache[c + 3] === words[r + 3] &&
        cache[c + 4] === words[r + 4] &&
        cache[c + 5] === words[r + 5]
      ) {
        const ep = this.cacheEndpoints[e];
        if (ep) return ep;
      }
    }
    const ep = endpointFromBytes(this.rxAddrs!, i * ENDPOINT_RECORD_LEN, this);
    const slot = this.cacheNext;
    this.cacheNext = (slot + 1) % ENDPOINT_CACHE_SIZE;
    cache.set(words.subarray(r, r + RECORD_WORDS), slot * RECORD_WORDS);
    this.cacheEndpoints[slot] = ep;
    return ep;
  }

  send(data: Uint8Array, to: Endpoint): void {
    const len = data.length;
    if (this.closed || len > UDP_MAX_PAYLOAD) {
      this.errors++;
      return;
    }
    if (len > this.slotSize) {
      // Rare: a datagram larger than a slot goes out on its own, unbatched.
      this.flush();
      this.oneLen[0] = len;
      writeEndpointRecord(to, this.oneAddr, 0);
      this.errors += this.native.udpSend(this.handle, data, this.oneLen, this.oneAddr, 1, len);
      return;
    }
    const n = this.txCount;
    this.txBuf.set(data, n * this.slotSize);
    this.txLens[n] = len;
    writeEndpointRecord(to, this.txAddrs, n * ENDPOINT_RECORD_LEN);
    this.txCount = n + 1;
    if (this.txCount === this.slots) this.flush();
  }

  flush(): void {
    const n = this.txCount;
    if (n === 0) return;
    this.txCount = 0;
    this.errors += this.native.udpSend(this.handle, this.txBuf, this.txLens, this.txAddrs, n, this.slotSize);
  }

  get sendErrors(): number {
    return this.errors;
  }

  stats(): UdpStats {
    return { ...this.native.stats(this.handle), sendErrors: this.errors };
  }
}

/**
 * Opens a UDP socket: dual-stack [::] by default, AF_INET when `address` is
 * IPv4. Throws an Error with `code` (errno name, e.g. EADDRINUSE) on failure.
 */
export function openUdp(opts: UdpOptions): LinuxUdp {
  return new LinuxUdp(opts);
}
