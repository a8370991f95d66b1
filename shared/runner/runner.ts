// The peer runner: wires a TUN device and a UDP bind to the protocol core,
// and does nothing else.
//
//   TUN batch  → device.fromTunnel  → sink.toNetwork → udp.send (queued)  → udp.flush at batch end
//   UDP batch  → device.fromNetwork → sink.toTunnel  → tun.write (queued) → tun.flush at batch end
//                                   → sink.toNetwork (handshakes, keepalives)
//   timer      → device.tick        → both, then flush
//   held       → at every batch end and on a timer at its next release time,
//                a shaper's queued packets (options.held) → both, then flush
//
// The runner owns the clock: it reads it once per batch and passes it in.
//
// Failures: an exception while handling one packet is counted (packetErrors),
// logged with its context (handler and length, never the bytes) the first time
// and then at most once a minute, and the rest of the batch goes on. A TUN
// device or UDP socket that stops for good resolves `failure`: the data path
// is dead and the daemon must end (non-zero) for its supervisor to restart it.

import type { IoError } from '../io/io-error.js';
import type { Endpoint, TunDevice, UdpBind } from '../io/types.js';
import type { Logger } from '../log.js';
import type { Device, Now, Sink } from '../wireguard/device.js';

/** Where time comes from; tests pass a fake. */
export interface Clock {
  now(): Now;
}

export const systemClock: Clock = {
  now: () => ({ mono: performance.now(), wall: Date.now() }),
};

/** How often timers are checked; far finer than any WireGuard timer (the smallest is 5 s ± 333 ms). */
const TICK_INTERVAL_MS = 100;
/** After the first logged packet error, at most one more log line per this interval. */
const PACKET_ERROR_LOG_INTERVAL_MS = 60_000;

/** Which handler a packet error happened in. */
export type PacketStage = 'tun-packet' | 'tun-batch-end' | 'udp-datagram' | 'udp-batch-end' | 'release';

/** Packets a shaper held back (gateway/traffic/), handed back to the data path when their time comes. */
export interface HeldPackets {
  /** Sends what may go now: downloads with device.sendPacket, uploads with sink.toTunnel. */
  release(now: Now, device: Device, sink: Sink): void;
  /** When release() next has something to send (monotonic ms), or Infinity. */
  nextRelease(): number;
}

export interface RunnerOptions {
  clock?: Clock;
  /** The shaper's queues: released at every batch end and on a timer at their next release time. */
  held?: HeldPackets;
  /** Where packet errors are logged (default: nowhere; they are still counted). */
  log?: Pick<Logger, 'error'>;
}

export class TunnelRunner {
  /** Packets (or batch ends) whose handling threw; the data path went on. */
  packetErrors = 0;
  /** Resolves with the error that stopped the TUN device or a UDP socket for good; never rejects. */
  readonly failure: Promise<IoError>;
  private readonly clock: Clock;
  private readonly sink: Sink;
  private readonly fail: (error: IoError) => void;
  private timer: NodeJS.Timeout | null = null;
  private releaseTimer: NodeJS.Timeout | null = null;
  private releaseAt = Infinity;
  private now: Now;
  private lastErrorLog = -Infinity;
  private unloggedErrors = 0;

  constructor(
    readonly device: Device,
    readonly tun: TunDevice,
    readonly udp: UdpBind,
    private readonly options: RunnerOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.now = this.clock.now();
    this.sink = {
      // The core only ever hands back endpoints that came from the UDP layer or the config.
      toNetwork: (data, to) => udp.send(data, to as Endpoint),
      toTunnel: (packet) => tun.write(packet),
    };
    let fail: (error: IoError) => void = () => {};
    this.failure = new Promise<IoError>((resolve) => {
      fail = resolve;
    });
    this.fail = fail;
  }

  start(): void {
    const device = this.device;
    const sink = this.sink;
    let batchStarted = false;
    const begin = (): Now => {
      if (!batchStarted) {
        this.now = this.clock.now();
        batchStarted = true;
      }
      return this.now;
    };
    // The next packet after a batch's end reads the clock again.
    const batchEnd = (stage: 'tun-batch-end' | 'udp-batch-end', flushTun: boolean) => () => {
      batchStarted = false;
      this.endBatch(stage, flushTun);
    };
    this.tun.start({
      packet: (data) => {
        try {
          device.fromTunnel(data, begin(), sink);
        } catch (e) {
          this.packetFailed('tun-packet', data.length, e);
        }
      },
      batchEnd: batchEnd('tun-batch-end', false),
      fatal: this.fail,
    });
    this.udp.start({
      datagram: (data, from) => {
        try {
          device.fromNetwork(data, from, begin(), sink);
        } catch (e) {
          this.packetFailed('udp-datagram', data.length, e);
        }
      },
      batchEnd: batchEnd('udp-batch-end', true),
      fatal: this.fail,
    });
    this.timer = setInterval(() => this.tick(), TICK_INTERVAL_MS);
    this.tick();
  }

  /**
   * Batch end: releases held packets that may go, flushes what the batch
   * queued (TUN first when asked, then UDP); a throw is counted, not fatal.
   */
  private endBatch(stage: 'tun-batch-end' | 'udp-batch-end' | 'release', flushTun: boolean): void {
    try {
      const held = this.options.held;
      if (held !== undefined) {
        held.release(this.now, this.device, this.sink);
        flushTun = true;
      }
      if (flushTun) this.tun.flush();
      this.udp.flush();
      if (held !== undefined) this.armRelease(held);
    } catch (e) {
      this.packetFailed(stage, 0, e);
    }
  }

  /** Keeps one timer for the held packets' next release time. */
  private armRelease(held: HeldPackets): void {
    const at = held.nextRelease();
    if (at === Infinity || (this.releaseTimer !== null && this.releaseAt <= at)) return;
    if (this.releaseTimer !== null) clearTimeout(this.releaseTimer);
    this.releaseAt = at;
    this.releaseTimer = setTimeout(
      () => {
        this.releaseTimer = null;
        this.releaseAt = Infinity;
        this.now = this.clock.now();
        this.endBatch('release', true);
      },
      Math.max(0, at - this.clock.now().mono),
    );
  }

  /** Counts an exception from one packet's handling; logs the first, then at most one line a minute. */
  private packetFailed(stage: PacketStage, length: number, e: unknown): void {
    this.packetErrors++;
    const log = this.options.log;
    if (log === undefined) return;
    const mono = this.now.mono;
    if (mono - this.lastErrorLog < PACKET_ERROR_LOG_INTERVAL_MS) {
      this.unloggedErrors++;
      return;
    }
    this.lastErrorLog = mono;
    const err = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    const stack = e instanceof Error ? e.stack : undefined;
    log.error(
      {
        event: 'packet-error',
        stage,
        length,
        err,
        stack,
        packetErrors: this.packetErrors,
        unlogged: this.unloggedErrors,
      },
      `handling a packet failed (${stage}, ${length} bytes): ${err}; the packet was dropped`,
    );
    this.unloggedErrors = 0;
  }

  /** Runs the device's timers now and sends what they produce. */
  tick(): void {
    this.now = this.clock.now();
    this.device.tick(this.now, this.sink);
    this.udp.flush();
    this.tun.flush();
  }

  /**
   * Runs `fn` with the current time and the runner's sink, then flushes what it
   * sent: for sending outside a TUN or UDP batch (handshakes at start, lease requests).
   */
  sendOutsideBatch(fn: (device: Device, now: Now, sink: Sink) => void): void {
    this.now = this.clock.now();
    fn(this.device, this.now, this.sink);
    this.udp.flush();
    this.tun.flush();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    if (this.releaseTimer !== null) clearTimeout(this.releaseTimer);
    this.timer = this.releaseTimer = null;
    this.tun.close();
    this.udp.close();
  }
}
