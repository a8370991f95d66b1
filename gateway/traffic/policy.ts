// Traffic policies of the gateway's clients (docs/gateway-config.md, "Quotas,
// rate limits and fair share"): the normalized types every part of the shaper
// and the accounting works with.
//
//   gateway.yaml uplinkCapacity / defaultPolicy / policies / clients[i].policy
//     -> schema (here) -> normalizeTraffic (here, units.ts) -> TrafficPolicy per client
//
// Directions are named from the client's side: down = Internet -> client,
// up = client -> Internet. Rates are bits per second, sizes bytes.

export type PeriodUnit = 'day' | 'week' | 'month';

/** When an accounting period starts: resetHour:00 local time in timeZone on the reset day. */
export interface PeriodSpec {
  unit: PeriodUnit;
  /** month: 1..31 (the month's last day when shorter); week: 1..7 (1 = Monday, ISO); day: 0. */
  resetDay: number;
  /** 0..23. */
  resetHour: number;
  /** An IANA zone name. */
  timeZone: string;
}

/** The period of clients without a quota (their usage is still counted): calendar months. */
export const ACCOUNTING_PERIOD_DEFAULT = (timeZone: string): PeriodSpec => ({
  unit: 'month',
  resetDay: 1,
  resetHour: 0,
  timeZone,
});

/** A token bucket: its rate, and how many bytes it may send at once. */
export interface RateLimit {
  bitsPerSecond: number;
  burstBytes: number;
}

export interface QuotaPolicy {
  /** Bytes per period, >= 1. */
  bytes: number;
  period: PeriodSpec;
  /** Which direction's bytes count toward the quota. */
  count: 'download' | 'upload' | 'both';
  /** What happens once used >= bytes. */
  atQuota: 'block' | 'throttle';
  /** The limit each direction gets while throttled; null with block. */
  throttle: RateLimit | null;
}

export interface TrafficPolicy {
  name: string;
  quota: QuotaPolicy | null;
  down: RateLimit | null;
  up: RateLimit | null;
  /** Share under congestion, 1..100. */
  weight: number;
}

/** The reserved policy name: no quota, no limits. */
export const UNLIMITED_NAME = 'unlimited';

export const UNLIMITED: TrafficPolicy = Object.freeze({
  name: UNLIMITED_NAME,
  quota: null,
  down: null,
  up: null,
  weight: 1,
});

/** The uplink's real capacity per direction (bits per second), or null: that direction is not scheduled. */
export interface UplinkCapacity {
  down: number | null;
  up: number | null;
}

/** Default burst: 100 ms worth of the rate, at least 16 KiB. */
export const BURST_DEFAULT_SECONDS = 0.1;
export const BURST_DEFAULT_MIN_BYTES = 16_384;

export function defaultBurst(bitsPerSecond: number): number {
  return Math.max(Math.round((bitsPerSecond / 8) * BURST_DEFAULT_SECONDS), BURST_DEFAULT_MIN_BYTES);
}

/** The host's IANA time zone: the default zone of quota periods and of unlimited clients' accounting. */
export function hostTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
