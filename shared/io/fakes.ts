// In-memory TunDevice and UdpBind for unit tests: no device, no socket, no timer.
//
// Packet flow (FakeTun)
//   test inject(...packets) → handler.packet(view) for each → batchEnd()   (synchronous)
//   runner write() → flush() → `written` (copies) → test reads or takeWritten()
//
// Packet flow (FakeNetwork)
//   bind.send() → bind.flush() → network in-flight queue (copies; `captured`
//   when capture is on) → filter verdict (deliver / drop / duplicate) →
//   network.deliver() → receiver handler.datagram(view, from) … batchEnd()
//
// Delivery is an explicit step: deliver() hands over everything in flight
// (datagrams sent during delivery wait for the next step) and run() repeats it
// until the network is quiet. With { autoDeliver: true } every flush() runs
// the network to quiet at once, never re-entrantly: a flush from inside a
// handler only queues, and the outer run picks it up.
//
// Like the real devices, views handed to handlers are only valid during the
// call: the fakes overwrite them (with 0xEE) as soon as the call returns, so a
// test catches code that keeps a view instead of copying. A bind that is not
// started (or closed) loses what arrives for it, counted as undeliverable.

import { makeEndpoint, parseEndpoint } from './endpoint.js';
import { IoError } from './io-error.js';
import type { Endpoint, TunDevice, TunHandler, UdpBind, UdpHandler } from './types.js';

const POISON = 0xee;
const UDP_MAX_PAYLOAD = 65527;
const IP_MAX_PACKET = 65535;
const EPHEMERAL_FIRST = 49152;

/** Lends out a view holding a copy of a packet and poisons it once the call is over. */
class Scratch {
  private buf = new Uint8Array(2048);

  lend(data: Uint8Array): Uint8Array {
    if (data.length > this.buf.length) this.buf = new Uint8Array(Math.max(data.length, this.buf.length * 2));
    const v = this.buf.subarray(0, data.length);
    v.set(data);
    return v;
  }

  poison(view: Uint8Array): void {
    view.fill(POISON);
  }
}

/** What FakeTun and FakeUdpBind share: the handler, the queue, error counts and the start/stop/close lifecycle. */
abstract class FakeIo<H extends { fatal?: (error: IoError) => void }, Q> {
  protected readonly queued: Q[] = [];
  protected readonly scratch = new Scratch();
  protected handler: H | undefined;
  protected errors = 0;
  protected failNext = 0;
  protected isClosed = false;
  protected readingStopped = false;

  /** label names the device in errors ("tun fake0"); kind is "device" or "bind". */
  constructor(
    private readonly label: string,
    private readonly kind: string,
  ) {}

  abstract flush(): void;

  start(handler: H): void {
    if (this.isClosed) throw new Error(`${this.label}: start() after close()`);
    if (this.handler) throw new Error(`${this.label}: already started`);
    this.handler = handler;
  }

  /** Stops reading for good: handler.fatal() hears of it (thrown without one). */
  protected stopReading(caller: string, error: IoError): void {
    const handler = this.handler;
    if (!handler || this.isClosed) throw new Error(`${this.label}: ${caller}() needs a started, open ${this.kind}`);
    this.handler = undefined;
    this.readingStopped = true;
    if (handler.fatal === undefined) throw error;
    handler.fatal(error);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Flushes what is queued, then closes (idempotent). */
  close(): void {
    if (this.isClosed) return;
    this.flush();
    this.isClosed = true;
    this.afterClose();
  }

  /** Called once, when close() has closed. */
  protected afterClose(): void {}
}

export interface FakeTunOptions {
  /** Packets per delivered batch and per write batch (default 64). */
  slots?: number;
}

export class FakeTun extends FakeIo<TunHandler, Uint8Array> implements TunDevice {
  /** Packets written by the code under test (copies), in order, once flushed. */
  readonly written: Uint8Array[] = [];
  private readonly slots: number;

  constructor(
    readonly name = 'fake0',
    opts: FakeTunOptions = {},
  ) {
    super(`tun ${name}`, 'device');
    this.slots = opts.slots ?? 64;
  }

  /**
   * Delivers packets as if the kernel routed them into the device: at once, in
   * batches of `slots`. Returns how many were delivered (0 once closed).
   */
  inject(...packets: Uint8Array[]): number {
    if (this.isClosed || this.readingStopped) return 0;
    const handler = this.handler;
    if (!handler) throw new Error(`tun ${this.name}: inject() before start()`);
    for (let i = 0; i < packets.length; i += this.slots) {
      const end = Math.min(i + this.slots, packets.length);
      for (let k = i; k < end; k++) {
        const view = this.scratch.lend(packets[k]!);
        try {
          handler.packet(view);
        } finally {
          this.scratch.poison(view);
        }
      }
      handler.batchEnd();
    }
    return packets.length;
  }

  write(packet: Uint8Array): void {
    if (this.isClosed || packet.length === 0 || packet.length > IP_MAX_PACKET) {
      this.errors++;
      return;
    }
    this.queued.push(packet.slice());
    if (this.queued.length >= this.slots) this.flush();
  }

  flush(): void {
    for (const p of this.queued) {
      if (this.failNext > 0) {
        this.failNext--;
        this.errors++;
      } else {
        this.written.push(p);
      }
    }
    this.queued.length = 0;
  }

  /** Returns the written packets and forgets them. */
  takeWritten(): Uint8Array[] {
    return this.written.splice(0, this.written.length);
  }

  /** Stops reading for good, as a deleted device does: handler.fatal() hears of it (thrown without one). */
  failReading(errno = 'EBADFD'): void {
    this.stopReading('failReading', new IoError('tun-read', `tun ${this.name}`, errno));
  }

  /** Makes the next n flushed packets fail, as if the kernel queue were full. */
  failNextWrites(n: number): void {
    this.failNext += n;
  }

  /** Packets written but not yet flushed. */
  get pendingWrites(): number {
    return this.queued.length;
  }

  get writeErrors(): number {
    return this.errors;
  }
}

/** A datagram on the fake network (data is a private copy). */
export interface FakeDatagram {
  readonly from: Endpoint;
  readonly to: Endpoint;
  readonly data: Uint8Array;
}

/** What the network does with a datagram: pass it, lose it, or deliver it twice. */
export type FakeVerdict = 'deliver' | 'drop' | 'duplicate';

export interface FakeNetworkOptions {
  /** Run the network to quiet on every flush() (default false: call deliver()/run()). */
  autoDeliver?: boolean;
  /** Keep a copy of every flushed datagram in `captured` (default false). */
  capture?: boolean;
  /** Rounds run() may take before it decides two parties ping-pong forever (default 10000). */
  maxRounds?: number;
}

export class FakeNetwork {
  /** Every datagram flushed onto the network, when capture is on. */
  readonly captured: FakeDatagram[] = [];
  /** Decides each datagram's fate as it is flushed; default: deliver. */
  filter: ((d: FakeDatagram) => FakeVerdict) | undefined;
  delivered = 0;
  dropped = 0;
  /** Datagrams to an endpoint nobody is bound to (UDP loses them silently). */
  undeliverable = 0;
  readonly autoDeliver: boolean;
  capture: boolean;
  private readonly maxRounds: number;
  private readonly binds = new Map<string, FakeUdpBind>();
  private inFlight: FakeDatagram[] = [];
  private running = false;
  private nextPort = EPHEMERAL_FIRST;

  constructor(opts: FakeNetworkOptions = {}) {
    this.autoDeliver = opts.autoDeliver ?? false;
    this.capture = opts.capture ?? false;
    this.maxRounds = opts.maxRounds ?? 10_000;
  }

  /** A new bind at `at` ("192.0.2.1:51820", an Endpoint; port 0 picks one). */
  bind(at: Endpoint | string, opts: { slots?: number } = {}): FakeUdpBind {
    let ep = typeof at === 'string' ? parseEndpointAllowingPortZero(at) : at;
    if (ep.port === 0) {
      while (this.binds.has(makeEndpoint(ep.address, this.nextPort, ep.scopeId).key)) this.nextPort++;
      ep = makeEndpoint(ep.address, this.nextPort++, ep.scopeId);
    }
    if (this.binds.has(ep.key))
      throw Object.assign(new Error(`fake bind ${ep.key}: address in use`), { code: 'EADDRINUSE' });
    const bind = new FakeUdpBind(this, ep, opts.slots ?? 64);
    this.binds.set(ep.key, bind);
    return bind;
  }

  /** Datagrams flushed but not yet delivered. */
  get pending(): number {
    return this.inFlight.length;
  }

  /** Puts a datagram in flight as if `from` had sent it (replays, reordering, forgeries). */
  inject(d: FakeDatagram): void {
    this.admit({ from: d.from, to: d.to, data: d.data.slice() });
  }

  /**
   * Delivers every datagram now in flight, grouped into batches per receiver
   * in send order. Datagrams sent meanwhile wait for the next call. Returns the
   * number delivered.
   */
  deliver(): number {
    const queue = this.inFlight;
    this.inFlight = [];
    let count = 0;
    let i = 0;
    while (i < queue.length) {
      const key = queue[i]!.to.key;
      const rx = this.binds.get(key);
      let j = i;
      while (j < queue.length && queue[j]!.to.key === key && (!rx || j - i < rx.slots)) j++;
      if (rx && rx.receive(queue, i, j)) {
        count += j - i;
      } else {
        this.undeliverable += j - i;
      }
      i = j;
    }
    this.delivered += count;
    return count;
  }

  /** Delivers until nothing is in flight; returns the number delivered. */
  run(): number {
    let total = 0;
    for (let round = 0; this.inFlight.length > 0; round++) {
      if (round >= this.maxRounds) throw new Error(`fake network still busy after ${this.maxRounds} rounds`);
      total += this.deliver();
    }
    return total;
  }

  /** @internal called by FakeUdpBind.flush() */
  submit(from: FakeUdpBind, queued: { data: Uint8Array; to: Endpoint }[]): void {
    for (const q of queued) this.admit({ from: from.endpoint, to: q.to, data: q.data });
    if (this.autoDeliver && !this.running) {
      this.running = true;
      try {
        this.run();
      } finally {
        this.running = false;
      }
    }
  }

  /** @internal */
  unbind(bind: FakeUdpBind): void {
    if (this.binds.get(bind.endpoint.key) === bind) this.binds.delete(bind.endpoint.key);
  }

  private admit(d: FakeDatagram): void {
    if (this.capture) this.captured.push(d);
    const verdict = this.filter ? this.filter(d) : 'deliver';
    if (verdict === 'drop') {
      this.dropped++;
      return;
    }
    this.inFlight.push(d);
    if (verdict === 'duplicate') this.inFlight.push(d);
  }
}

function parseEndpointAllowingPortZero(text: string): Endpoint {
  const m = /^(.*):0$/.exec(text.trim());
  if (!m) return parseEndpoint(text);
  const ep = parseEndpoint(`${m[1]}:1`);
  return makeEndpoint(ep.address, 0, ep.scopeId);
}

export class FakeUdpBind extends FakeIo<UdpHandler, { data: Uint8Array; to: Endpoint }> implements UdpBind {
  /** @internal use FakeNetwork.bind() */
  constructor(
    private readonly network: FakeNetwork,
    /** The address this bind is reachable at (what receivers see as `from`). */
    readonly endpoint: Endpoint,
    readonly slots: number,
  ) {
    super(`fake udp ${endpoint.key}`, 'bind');
  }

  get port(): number {
    return this.endpoint.port;
  }

  send(data: Uint8Array, to: Endpoint): void {
    if (this.isClosed || data.length > UDP_MAX_PAYLOAD) {
      this.errors++;
      return;
    }
    if (this.failNext > 0) {
      this.failNext--;
      this.errors++;
      return;
    }
    this.queued.push({ data: data.slice(), to });
    if (this.queued.length >= this.slots) this.flush();
  }

  flush(): void {
    if (this.queued.length === 0) return;
    const batch = this.queued.splice(0, this.queued.length);
    this.network.submit(this, batch);
  }

  /** Stops receiving for good: handler.fatal() hears of it (thrown without one); later datagrams are lost. */
  failReceiving(errno = 'EBADF'): void {
    this.stopReading('failReceiving', new IoError('udp-read', `udp :${this.port}`, errno));
  }

  /** Makes the next n send() calls fail, as a full socket queue would. */
  failNextSends(n: number): void {
    this.failNext += n;
  }

  /** Datagrams sent but not yet flushed. */
  get pendingSends(): number {
    return this.queued.length;
  }

  get sendErrors(): number {
    return this.errors;
  }

  protected override afterClose(): void {
    this.network.unbind(this);
  }

  /** @internal delivers queue[start..end) as one batch; false (lost) when not started or closed. */
  receive(queue: readonly FakeDatagram[], start: number, end: number): boolean {
    const handler = this.handler;
    if (!handler || this.isClosed) return false;
    for (let i = start; i < end; i++) {
      const d = queue[i]!;
      const view = this.scratch.lend(d.data);
      try {
        handler.datagram(view, d.from);
      } finally {
        this.scratch.poison(view);
      }
    }
    handler.batchEnd();
    return true;
  }
}

/** Two binds on one fake network: a at 192.0.2.1:51820 and b at 192.0.2.2:51820. */
export function createFakeUdpPair(opts: FakeNetworkOptions = {}): {
  network: FakeNetwork;
  a: FakeUdpBind;
  b: FakeUdpBind;
} {
  const network = new FakeNetwork(opts);
  return { network, a: network.bind('192.0.2.1:51820'), b: network.bind('192.0.2.2:51820') };
}
