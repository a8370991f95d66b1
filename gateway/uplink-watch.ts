// The gateway watches its own uplink: does it work now? The answer goes into
// every HEALTH (lease-server.ts), the status, the uplink metric and the log.
//
//   every UPLINK_WATCH_INTERVAL_MS (synchronous, no subprocess):
//     a. the uplink has carrier (sysfs operstate, shared/host/probe.ts linkUp)
//     b. a default route (IPv4 or IPv6) leaves through it (/proc/net/route,
//        /proc/net/ipv6_route)
//   every uplinkCheck.interval s, when configured (asynchronous):
//     c. a TCP connect to each target (timeout UPLINK_CHECK_TIMEOUT_MS);
//        connected or refused = reached; the check fails after
//        UPLINK_CHECK_FAILED_ROUNDS rounds in a row that reached no target,
//        and passes again after one round that reached one
//   state = the first of a, b, c that fails (its reason), else up; onChange
//   once per change of up/reason.
//
// The decision is pure over injected readers and clock (unit tests); only
// start()/stop() own timers and only the default readers touch the host.

import { readFileSync } from 'node:fs';
import { tryConnect } from '../shared/io/try-connect.js';
import { linkUp } from '../shared/host/probe.js';

/** Why the uplink counts as down (closed list; also the only values a label or log field takes). */
export const UPLINK_DOWN_REASONS = ['no-carrier', 'no-default-route', 'check-failed'] as const;
export type UplinkDownReason = (typeof UPLINK_DOWN_REASONS)[number];

export const UPLINK_WATCH_INTERVAL_MS = 1_000;
export const UPLINK_CHECK_TIMEOUT_MS = 2_000;
/** Consecutive rounds that reached no target before the check fails. */
export const UPLINK_CHECK_FAILED_ROUNDS = 2;

const PROC_ROUTE4 = '/proc/net/route';
const PROC_ROUTE6 = '/proc/net/ipv6_route';
/** Route flags (linux/route.h, ipv6_route.h): usable, and unreachable/prohibit. */
const RTF_UP = 0x0001;
const RTF_REJECT = 0x0200;

export interface UplinkState {
  up: boolean;
  reason: UplinkDownReason | null;
  /** Date.now() ms of the latest change (of the first check for the initial state). */
  since: number;
}

/** One target of the active check: an IP literal and a port. */
export interface UplinkCheckTarget {
  host: string;
  port: number;
  /** As the configuration wrote it ("198.51.100.1:80", "[2001:db8::1]:443"). */
  text: string;
}

export interface UplinkCheck {
  targets: UplinkCheckTarget[];
  /** Seconds between rounds. */
  interval: number;
}

/** What the watch reads; the defaults read the host. */
export interface UplinkReaders {
  linkUp: (name: string) => boolean;
  /** A file's text, or null when it cannot be read. */
  readFile: (path: string) => string | null;
  /** Whether a TCP connect reached the target (connected or refused) within timeoutMs. */
  tcpReach: (target: UplinkCheckTarget, timeoutMs: number) => Promise<boolean>;
  now: () => number;
}

export interface UplinkWatchOptions {
  uplink: string;
  check: UplinkCheck | null;
  onChange?: (state: UplinkState) => void;
  readers?: Partial<UplinkReaders>;
}

export class UplinkWatch {
  private current: UplinkState;
  private readonly readers: UplinkReaders;
  private failedRounds = 0;
  private roundRunning = false;
  private localOk: boolean;
  private timers: NodeJS.Timeout[] = [];

  /** Checks a and b once, synchronously: `state` is right from the start. */
  constructor(private readonly o: UplinkWatchOptions) {
    this.readers = {
      linkUp,
      readFile: readTextOrNull,
      tcpReach,
      now: () => Date.now(),
      ...o.readers,
    };
    const reason = this.localReason();
    this.localOk = reason === null;
    this.current = { up: reason === null, reason, since: this.readers.now() };
  }

  get state(): UplinkState {
    return this.current;
  }

  /** Checks a and b now (and takes the latest result of c); a change goes to onChange. */
  checkNow(): UplinkState {
    const local = this.localReason();
    const recovered = local === null && !this.localOk;
    this.localOk = local === null;
    this.set(local ?? (this.failedRounds >= UPLINK_CHECK_FAILED_ROUNDS ? 'check-failed' : null));
    // Carrier or route back: ask the targets at once rather than at the next round.
    if (recovered) void this.checkRound();
    return this.current;
  }

  /** One round of the active check (nothing without uplinkCheck, or while a round runs). */
  async checkRound(): Promise<void> {
    const check = this.o.check;
    if (check === null || this.roundRunning) return;
    this.roundRunning = true;
    try {
      const reached = await Promise.all(
        check.targets.map((t) => this.readers.tcpReach(t, UPLINK_CHECK_TIMEOUT_MS).catch(() => false)),
      );
      this.failedRounds = reached.includes(true) ? 0 : this.failedRounds + 1;
    } finally {
      this.roundRunning = false;
    }
    this.checkNow();
  }

  /** Checks now and then on timers: a and b every second, c every interval (first round at once). */
  start(): void {
    if (this.timers.length > 0) return;
    this.checkNow();
    this.timers.push(setInterval(() => this.checkNow(), UPLINK_WATCH_INTERVAL_MS));
    if (this.o.check !== null) {
      void this.checkRound();
      this.timers.push(setInterval(() => void this.checkRound(), this.o.check.interval * 1000));
    }
    for (const t of this.timers) t.unref();
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private localReason(): UplinkDownReason | null {
    if (!this.readers.linkUp(this.o.uplink)) return 'no-carrier';
    const v4 = this.readers.readFile(PROC_ROUTE4);
    const v6 = this.readers.readFile(PROC_ROUTE6);
    const viaUplink =
      (v4 !== null && defaultRouteV4(v4, this.o.uplink)) || (v6 !== null && defaultRouteV6(v6, this.o.uplink));
    return viaUplink ? null : 'no-default-route';
  }

  private set(reason: UplinkDownReason | null): void {
    if (reason === this.current.reason) return;
    this.current = { up: reason === null, reason, since: this.readers.now() };
    this.o.onChange?.(this.current);
  }
}

/** One line for the log: "uplink eth0 is up", "uplink eth0 is down: no carrier". */
export function uplinkMessage(uplink: string, state: UplinkState): string {
  return state.reason === null
    ? `uplink ${uplink} is up`
    : `uplink ${uplink} is down: ${state.reason.replace(/-/g, ' ')}`;
}

/**
 * Whether /proc/net/route holds a usable IPv4 default route (destination and
 * mask 0) through `dev`. Columns: Iface Destination Gateway Flags … Mask …;
 * a line that does not parse is skipped.
 */
export function defaultRouteV4(text: string, dev: string): boolean {
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[0] !== dev) continue;
    if (f[1] !== '00000000' || f[7] !== '00000000') continue;
    if (usable(f[3]!)) return true;
  }
  return false;
}

/**
 * Whether /proc/net/ipv6_route holds a usable IPv6 default route (::/0)
 * through `dev`. Columns: destination, its prefix length (hex), source,
 * its length, next hop, metric, refcount, use, flags, device (last).
 */
export function defaultRouteV6(text: string, dev: string): boolean {
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 10 || f[9] !== dev) continue;
    if (!/^0{32}$/.test(f[0]!) || f[1] !== '00') continue;
    if (usable(f[8]!)) return true;
  }
  return false;
}

/** Flags (hex) of a route that is up and not a reject route. */
function usable(flagsHex: string): boolean {
  if (!/^[0-9A-Fa-f]{1,8}$/.test(flagsHex)) return false;
  const flags = parseInt(flagsHex, 16);
  return (flags & RTF_UP) !== 0 && (flags & RTF_REJECT) === 0;
}

function readTextOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** A TCP connect from the gateway's own routing: connected or refused (something answered) is reached. */
export async function tcpReach(target: UplinkCheckTarget, timeoutMs: number): Promise<boolean> {
  const outcome = await tryConnect({ host: target.host, port: target.port }, timeoutMs);
  return outcome === 'connected' || outcome === 'refused';
}
