// Which gateway the agent routes through (docs/client-config.md, "Failover").
// Pure: the agent reports what happened (a lease held or lost, a HEALTH
// answer with its round trip and uplink state) with the time, and asks
// evaluate(now) what to do.
//
//   healthy  = holds a lease, and (with several gateways) answered a PROBE
//              within deadAfter and did not say its uplink is down
//   choice   = the healthy gateway of the lowest priority number, then the
//              lowest smoothed round trip; a gateway that was healthy, failed
//              and came back is eligible again only after holdDown of health
//              (no flapping); the current one is left only for a gateway of a
//              better priority, or of the same priority and less than half its
//              round trip (by RTT_SWITCH_MIN_MS at least, healthy for holdDown),
//              or when it fails
//   start    = the first choice waits until every gateway is healthy or
//              START_GRACE_MS passed since the first was (one switch, not two)
//   retry    : a gateway that answered nothing (no HEALTH, no lease message)
//              for deadAfter gets a new handshake, at its next endpoint when it
//              has several, again every deadAfter while it stays silent
//   lease    : one that ran out (renewals refused or unanswered) is no lease
//
// With one gateway there is nothing to choose between: it is chosen once it
// holds a lease, whatever the probes say (a gateway from before PROBE never
// answers them); they still measure its round trip and move its endpoints.
// Health changes are reported from deadAfter after the start on, or once a
// gateway was healthy, so a start does not log every gateway as down.

import type { FailoverConfig } from './config.js';

export type HealthReason = 'unreachable' | 'uplink-down' | 'no-lease';
export type SwitchReason = 'start' | 'unreachable' | 'uplink-down' | 'no-lease' | 'preferred' | 'faster';

/** The first choice waits this long for the other gateways after the first healthy one. */
export const START_GRACE_MS = 1_000;
/** Smoothing of the round trip (the weight of a new sample), as TCP's SRTT (RFC 6298). */
export const RTT_SMOOTHING = 1 / 8;
/** A gateway of the same priority must be this much faster, by ratio and by time, to be switched to. */
export const RTT_SWITCH_RATIO = 0.5;
export const RTT_SWITCH_MIN_MS = 20;

export interface GatewayHealth {
  readonly healthy: boolean;
  /** Why it is not healthy (null when it is). */
  readonly reason: HealthReason | null;
  /** As the gateway last said; null: no answer yet. */
  readonly uplinkUp: boolean | null;
  /** Smoothed round trip, ms; null: no answer yet. */
  readonly rttMs: number | null;
  /** The endpoint in use (index into the gateway's endpoints). */
  readonly endpoint: number;
}

export interface HealthChange {
  gateway: number;
  healthy: boolean;
  reason: HealthReason | null;
}

export interface FailoverDecision {
  /** Gateways whose health changed since the last evaluate. */
  changes: HealthChange[];
  /** Gateways to move to their next endpoint now (those of `retry` with several). */
  rotate: number[];
  /**
   * Gateways silent for another deadAfter: worth a new handshake now. A gateway
   * that restarted has forgotten the session the agent still holds, and may not
   * know where the agent is: without one the agent would wait for WireGuard's
   * own retry (15 s of unanswered data).
   */
  retry: number[];
  /** The gateway to route through from now on, and why; null: stay. */
  switchTo: { gateway: number; from: number | null; reason: SwitchReason } | null;
}

interface State {
  priority: number;
  endpoints: number;
  endpoint: number;
  lease: boolean;
  lastAnswer: number;
  lastRotation: number;
  uplinkUp: boolean | null;
  rttMs: number | null;
  healthy: boolean;
  reason: HealthReason | null;
  healthySince: number;
  /** Was healthy once and failed since: holdDown applies to its return. */
  failed: boolean;
  everHealthy: boolean;
}

export class Failover {
  private readonly gateways: State[];
  /** More than one gateway: health needs the probes' answers. */
  private readonly several: boolean;
  private readonly startedAt: number;
  private currentIndex: number | null = null;
  private firstHealthyAt: number | null = null;

  constructor(
    /** `endpoint`: the one to start at (default 0). */
    gateways: readonly { priority: number; endpoints: number; endpoint?: number }[],
    private readonly config: FailoverConfig,
    now: number,
  ) {
    this.several = gateways.length > 1;
    this.startedAt = now;
    this.gateways = gateways.map((g) => ({
      priority: g.priority,
      endpoints: g.endpoints,
      endpoint: g.endpoint ?? 0,
      lease: false,
      lastAnswer: -Infinity,
      lastRotation: now,
      uplinkUp: null,
      rttMs: null,
      healthy: false,
      reason: 'no-lease',
      healthySince: now,
      failed: false,
      everHealthy: false,
    }));
  }

  /** The gateway routed through; null before the first choice. */
  get current(): number | null {
    return this.currentIndex;
  }

  health(gateway: number): GatewayHealth {
    const g = this.gateways[gateway]!;
    return { healthy: g.healthy, reason: g.reason, uplinkUp: g.uplinkUp, rttMs: g.rttMs, endpoint: g.endpoint };
  }

  /** An authenticated lease-protocol answer (LEASE, REFUSED, STATUS): the gateway is there, at this endpoint. */
  heard(gateway: number, now: number): void {
    const g = this.gateways[gateway]!;
    g.lastAnswer = Math.max(g.lastAnswer, now);
  }

  /** The gateway holds a lease (true) or its lease ran out (false). */
  lease(gateway: number, held: boolean): void {
    this.gateways[gateway]!.lease = held;
  }

  /** A HEALTH answer to one of our PROBEs: its round trip and what it says of its uplink. */
  answer(gateway: number, uplinkUp: boolean, rttMs: number, now: number): void {
    const g = this.gateways[gateway]!;
    g.lastAnswer = now;
    g.uplinkUp = uplinkUp;
    g.rttMs = g.rttMs === null ? rttMs : g.rttMs + RTT_SMOOTHING * (rttMs - g.rttMs);
  }

  private judge(g: State, now: number): HealthReason | null {
    if (!g.lease) return 'no-lease';
    if (!this.several) return null;
    if (now - g.lastAnswer > this.config.deadAfterMs) return 'unreachable';
    if (g.uplinkUp === false) return 'uplink-down';
    return null;
  }

  /** better(a, b): a is preferred to b (priority, then round trip). */
  private better(a: number, b: number): boolean {
    const x = this.gateways[a]!;
    const y = this.gateways[b]!;
    if (x.priority !== y.priority) return x.priority < y.priority;
    return (x.rttMs ?? Infinity) < (y.rttMs ?? Infinity);
  }

  private best(candidates: number[]): number | null {
    let best: number | null = null;
    for (const i of candidates) if (best === null || this.better(i, best)) best = i;
    return best;
  }

  evaluate(now: number): FailoverDecision {
    const changes: HealthChange[] = [];
    const rotate: number[] = [];
    const retry: number[] = [];
    this.gateways.forEach((g, i) => {
      const reason = this.judge(g, now);
      const healthy = reason === null;
      if (healthy !== g.healthy || (!healthy && reason !== g.reason)) {
        if (healthy) g.healthySince = now;
        else if (g.healthy) g.failed = true;
        g.healthy = healthy;
        g.reason = reason;
        g.everHealthy ||= healthy;
        if (g.everHealthy || now - this.startedAt >= this.config.deadAfterMs)
          changes.push({ gateway: i, healthy, reason });
      }
      const silentFor = now - Math.max(g.lastAnswer, g.lastRotation);
      if (silentFor >= this.config.deadAfterMs) {
        g.lastRotation = now;
        retry.push(i);
        if (g.endpoints > 1) {
          g.endpoint = (g.endpoint + 1) % g.endpoints;
          rotate.push(i);
        }
      }
    });
    return { changes, rotate, retry, switchTo: this.choose(now) };
  }

  private choose(now: number): FailoverDecision['switchTo'] {
    const all = this.gateways.map((_, i) => i);
    const healthy = all.filter((i) => this.gateways[i]!.healthy);
    if (healthy.length === 0) return null;
    this.firstHealthyAt ??= now;
    const from = this.currentIndex;
    const eligible = healthy.filter((i) => {
      const g = this.gateways[i]!;
      return i === from || !g.failed || now - g.healthySince >= this.config.holdDownMs;
    });
    let to: number | null;
    let reason: SwitchReason;
    if (from === null) {
      if (healthy.length < all.length && now - this.firstHealthyAt < START_GRACE_MS) return null;
      to = this.best(healthy);
      reason = 'start';
    } else if (!this.gateways[from]!.healthy) {
      // Anything healthy beats a gateway that failed; one past its hold-down first.
      to = this.best(eligible.length > 0 ? eligible : healthy);
      reason = this.gateways[from]!.reason!;
    } else {
      const best = this.best(eligible);
      if (best === null || best === from) return null;
      const b = this.gateways[best]!;
      const c = this.gateways[from]!;
      if (b.priority < c.priority) reason = 'preferred';
      else if (
        b.priority === c.priority &&
        b.rttMs !== null &&
        c.rttMs !== null &&
        b.rttMs < c.rttMs * RTT_SWITCH_RATIO &&
        c.rttMs - b.rttMs >= RTT_SWITCH_MIN_MS &&
        now - b.healthySince >= this.config.holdDownMs
      )
        reason = 'faster';
      else return null;
      to = best;
    }
    if (to === null || to === from) return null;
    this.currentIndex = to;
    return { gateway: to, from, reason };
  }
}
