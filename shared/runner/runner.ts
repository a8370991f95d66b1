// The peer runner: wires a TUN device and a UDP bind to the protocol core,
// and does nothing else.
//
//   TUN batch  → device.fromTunnel  → sink.toNetwork → udp.send (queued)  → udp.flush at batch end
//   UDP batch  → device.fromNetwork → sink.toTunnel  → tun.write (queued) → tun.flush at batch end
//                                   → sink.toNetwork (handshakes, keepalives)
//   timer      → device.tick        → both, then flush
//
// The runner owns the clock: it reads it once per batch and passes it in.

import type { Endpoint, TunDevice, UdpBind } from '../io/types.js';
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

export interface RunnerOptions {
  clock?: Clock;
  /** Extra packet handling before the device (e.g. the gateway's control protocol); return true if consumed. */
  interceptTunnel?: (packet: Uint8Array, now: Now) => boolean;
}

export class TunnelRunner {
  private readonly clock: Clock;
  private readonly sink: Sink;
  private timer: NodeJS.Timeout | null = null;
  private now: Now;

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
  }

  start(): void {
    const device = this.device;
    const sink = this.sink;
    const intercept = this.options.interceptTunnel;
    let batchStarted = false;
    const begin = (): Now => {
      if (!batchStarted) {
        this.now = this.clock.now();
        batchStarted = true;
      }
      return this.now;
    };
    this.tun.start({
      packet: (data) => {
        const now = begin();
        if (intercept !== undefined && intercept(data, now)) return;
        device.fromTunnel(data, now, sink);
      },
      batchEnd: () => {
        batchStarted = false;
        this.udp.flush();
      },
    });
    this.udp.start({
      datagram: (data, from) => device.fromNetwork(data, from, begin(), sink),
      batchEnd: () => {
        batchStarted = false;
        this.tun.flush();
        this.udp.flush();
      },
    });
    this.timer = setInterval(() => this.tick(), TICK_INTERVAL_MS);
    this.tick();
  }

  /** Runs the device's timers now and sends what they produce. */
  tick(): void {
    this.now = this.clock.now();
    this.device.tick(this.now, this.sink);
    this.udp.flush();
    this.tun.flush();
  }

  /** Runs `fn` with the current time and the runner's sink, then flushes: for work outside a batch (control protocols). */
  act(fn: (device: Device, now: Now, sink: Sink) => void): void {
    this.now = this.clock.now();
    fn(this.device, this.now, this.sink);
    this.udp.flush();
    this.tun.flush();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.tun.close();
    this.udp.close();
  }
}
