// One client's usage in its current accounting period, and its quota state.
//
//   packet sent (shaper) → add(dir, bytes): counters += , state → throttled/blocked at the quota
//   1 s checkpoint       → rollover(now) at the period end (the finished row is history)
//                        → row(now) → store.saveUsage (absolute values: a replay never charges twice)
//   gateway start        → new ClientUsage(…, stored row of this period) resumes the counters
//
// The period is the quota's (policy.quota.period) or, without a quota, calendar
// months in the gateway's accounting zone: unlimited clients are counted too.
// State: no quota → ok; used >= quota.bytes → blocked or throttled (quota.atQuota);
// else ok. Time is passed in (wall clock, epoch ms); nothing here reads a clock.

import { periodAt } from './period.js';
import { ACCOUNTING_PERIOD_DEFAULT, type PeriodSpec, type TrafficPolicy } from './policy.js';

/** Named from the client's side: down = Internet → client, up = client → Internet. */
export type Direction = 'down' | 'up';
export type QuotaState = 'ok' | 'throttled' | 'blocked';

export interface UsageCounters {
  downBytes: number;
  upBytes: number;
  downPackets: number;
  upPackets: number;
}

/** One client's counters of one period, as the store keeps them. */
export interface UsageRow extends UsageCounters {
  publicKey: string;
  /** The period [periodStart, periodEnd), epoch ms. */
  periodStart: number;
  periodEnd: number;
  /** When these values were taken, epoch ms. */
  updatedAt: number;
}

/** The period a policy counts in: its quota's, else calendar months in `accountingZone`. */
export function periodSpecOf(policy: TrafficPolicy, accountingZone: string): PeriodSpec {
  return policy.quota?.period ?? ACCOUNTING_PERIOD_DEFAULT(accountingZone);
}

/** The state `used` bytes put a client with `policy` in. */
export function quotaStateOf(policy: TrafficPolicy, used: number): QuotaState {
  const quota = policy.quota;
  if (quota === null || used < quota.bytes) return 'ok';
  return quota.atQuota === 'block' ? 'blocked' : 'throttled';
}

/** Bytes of `counters` counted toward the policy's quota (0 without a quota). */
export function usedOf(policy: TrafficPolicy, counters: UsageCounters): number {
  switch (policy.quota?.count) {
    case 'download':
      return counters.downBytes;
    case 'upload':
      return counters.upBytes;
    case 'both':
      return counters.downBytes + counters.upBytes;
    default:
      return 0;
  }
}

/** Not safe for concurrent use; one object per configured client. */
export class ClientUsage implements UsageCounters {
  readonly publicKey: string;
  policy: TrafficPolicy;
  downBytes = 0;
  upBytes = 0;
  downPackets = 0;
  upPackets = 0;
  periodStart: number;
  periodEnd: number;
  state: QuotaState = 'ok';
  /** Set by add(), rollover() and setPolicy() when the state changed; the gateway reads and clears it. */
  stateChanged = false;

  private readonly accountingZone: string;
  // The hot path's view of the policy: 1 or 0 per direction (counted toward
  // the quota or not), the bytes counted so far, and the count at which the
  // state must change next (Infinity: no change possible before the next
  // rollover or policy change).
  private downWeight = 0;
  private upWeight = 0;
  private counted = 0;
  private nextChangeAt = Infinity;

  /**
   * `stored` (the store's row of this key, if any) is resumed only when it is
   * of the same key and its period starts where the current one does; otherwise
   * the counters start at zero.
   */
  constructor(
    publicKey: string,
    policy: TrafficPolicy,
    accountingZone: string,
    wallMs: number,
    stored: UsageRow | undefined,
  ) {
    this.publicKey = publicKey;
    this.policy = policy;
    this.accountingZone = accountingZone;
    const period = periodAt(periodSpecOf(policy, accountingZone), wallMs);
    this.periodStart = period.start;
    this.periodEnd = period.end;
    if (stored !== undefined && stored.publicKey === publicKey && stored.periodStart === period.start) {
      this.downBytes = stored.downBytes;
      this.upBytes = stored.upBytes;
      this.downPackets = stored.downPackets;
      this.upPackets = stored.upPackets;
    }
    this.recompute();
    this.stateChanged = false;
  }

  /** Bytes counted toward the quota: down, up or both by quota.count (0 when no quota). */
  get used(): number {
    return this.counted;
  }

  /** HOT PATH, once per packet actually sent: a few additions and one comparison, no allocation. */
  add(dir: Direction, bytes: number): void {
    if (dir === 'down') {
      this.downBytes += bytes;
      this.downPackets++;
      this.counted += bytes * this.downWeight;
    } else {
      this.upBytes += bytes;
      this.upPackets++;
      this.counted += bytes * this.upWeight;
    }
    if (this.counted >= this.nextChangeAt) this.recompute();
  }

  /**
   * At or past periodEnd: starts the period containing `wallMs` (counters 0,
   * state ok) and returns the finished period's row (history); otherwise null.
   * Periods in which the gateway did not run are skipped.
   */
  rollover(wallMs: number): UsageRow | null {
    if (wallMs < this.periodEnd) return null;
    const finished = this.row(wallMs);
    const period = periodAt(periodSpecOf(this.policy, this.accountingZone), wallMs);
    this.startPeriod(period.start, period.end);
    return finished;
  }

  /**
   * A live policy change. The counters stay when the new policy's period starts
   * where the current one does (only periodEnd and the state are recomputed);
   * otherwise the current period is finished: its row is returned (history, to
   * be stored like rollover()'s) and counting starts at zero in the new period.
   */
  setPolicy(policy: TrafficPolicy, wallMs: number): UsageRow | null {
    const period = periodAt(periodSpecOf(policy, this.accountingZone), wallMs);
    this.policy = policy;
    if (period.start === this.periodStart) {
      this.periodEnd = period.end;
      this.recompute();
      return null;
    }
    const finished = this.row(wallMs);
    this.startPeriod(period.start, period.end);
    return finished;
  }

  /** Snapshot for the store. */
  row(wallMs: number): UsageRow {
    return {
      publicKey: this.publicKey,
      periodStart: this.periodStart,
      periodEnd: this.periodEnd,
      downBytes: this.downBytes,
      upBytes: this.upBytes,
      downPackets: this.downPackets,
      upPackets: this.upPackets,
      updatedAt: wallMs,
    };
  }

  private startPeriod(start: number, end: number): void {
    this.periodStart = start;
    this.periodEnd = end;
    this.downBytes = this.upBytes = this.downPackets = this.upPackets = 0;
    this.recompute();
  }

  /** Derives the hot path's fields and the state from the policy and the counters. */
  private recompute(): void {
    const count = this.policy.quota?.count;
    this.downWeight = count === 'download' || count === 'both' ? 1 : 0;
    this.upWeight = count === 'upload' || count === 'both' ? 1 : 0;
    this.counted = this.downBytes * this.downWeight + this.upBytes * this.upWeight;
    const state = quotaStateOf(this.policy, this.counted);
    this.nextChangeAt = state === 'ok' && this.policy.quota !== null ? this.policy.quota.bytes : Infinity;
    if (state !== this.state) {
      this.state = state;
      this.stateChanged = true;
    }
  }
}
