// Traffic policies of the gateway's clients (docs/gateway-config.md, "Quotas,
// rate limits and fair share"): the normalized types every part of the shaper
// and the accounting works with.
//
//   gateway.yaml uplinkCapacity / defaultPolicy / policies / clients[i].policy
//     -> schema (here) -> normalizeTraffic (here, units.ts) -> TrafficPolicy per client
//
// Directions are named from the client's side: down = Internet -> client,
// up = client -> Internet. Rates are bits per second, sizes bytes.
//
// Every refusal is a FieldError naming the field as written
// ("policies.resident.quota.throttle: 2 Mbit/s is above rate.down 1 Mbit/s");
// gateway/config.ts's loader adds the file.

import { Type, type Static, type TObject } from '@sinclair/typebox';
import { IANAZone } from 'luxon';
import { FieldError } from '../../shared/config/config-error.js';
import { show, showName } from '../../shared/config/redact.js';
import { fieldPath } from '../../shared/config/yaml.js';
import { formatRate, parseRate, parseSize } from './units.js';

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

/** The host's IANA time zone (UTC when the runtime names none it knows): the default zone of quota periods and of clients' accounting. */
export function hostTimeZone(): string {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return zone !== undefined && IANAZone.isValidZone(zone) ? zone : 'UTC';
}

// ---------------------------------------------------------------------------
// Schema (structure; sizes, rates, zones and references are checked by normalizeTraffic)

/** Limits of the format. */
export const MAX_POLICIES = 256;
export const WEIGHT_MIN = 1;
export const WEIGHT_MAX = 100;
const POLICY_NAME = /^[A-Za-z0-9_-]{1,32}$/;
const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;
const MONTH_DAY_MAX = 31;

const Text = Type.String({ minLength: 1 });
/** A size or a rate: text or a number, read by units.ts. */
const Quantity = Type.Unknown();
const oneOf = <T extends string>(...values: T[]) => Type.Union(values.map((v) => Type.Literal(v)));

const QuotaSchema = Type.Object(
  {
    bytes: Quantity,
    period: oneOf<PeriodUnit>('day', 'week', 'month'),
    /** month: 1..31; week: a weekday name. */
    resetDay: Type.Optional(Type.Unknown()),
    resetHour: Type.Optional(Type.Integer({ minimum: 0, maximum: 23 })),
    timeZone: Type.Optional(Text),
    count: Type.Optional(oneOf<QuotaPolicy['count']>('download', 'upload', 'both')),
    atQuota: Type.Optional(oneOf<QuotaPolicy['atQuota']>('block', 'throttle')),
    throttle: Type.Optional(Quantity),
  },
  { additionalProperties: false },
);

const PolicySchema = Type.Object(
  {
    quota: Type.Optional(QuotaSchema),
    rate: Type.Optional(
      Type.Object(
        { down: Type.Optional(Quantity), up: Type.Optional(Quantity), burst: Type.Optional(Quantity) },
        { additionalProperties: false },
      ),
    ),
    weight: Type.Optional(Type.Integer({ minimum: WEIGHT_MIN, maximum: WEIGHT_MAX })),
  },
  { additionalProperties: false },
);

/** The traffic fields of gateway.yaml's top level (spread into its schema). */
export const TRAFFIC_FIELDS = {
  uplinkCapacity: Type.Optional(
    Type.Object({ down: Type.Optional(Quantity), up: Type.Optional(Quantity) }, { additionalProperties: false }),
  ),
  defaultPolicy: Type.Optional(Text),
  policies: Type.Optional(Type.Record(Type.String(), PolicySchema)),
};
/** The traffic field of a `clients` entry. */
export const CLIENT_TRAFFIC_FIELDS = { policy: Type.Optional(Text) };

export type RawTraffic = Static<TObject<typeof TRAFFIC_FIELDS>>;
type RawPolicy = Static<typeof PolicySchema>;
type RawQuota = Static<typeof QuotaSchema>;

// ---------------------------------------------------------------------------
// Normalization

/** The traffic part of a GatewayConfig. */
export interface TrafficConfig {
  uplinkCapacity: UplinkCapacity;
  /** As configured, in file order; UNLIMITED is not among them. */
  policies: TrafficPolicy[];
  /** A policy's name or "unlimited". */
  defaultPolicy: string;
  /** The host's zone: the period of clients without a quota, the default timeZone of quotas. */
  accountingZone: string;
}

/** Checks and normalizes the traffic fields; `accountingZone` is the host's zone unless given (tests). */
export function normalizeTraffic(raw: RawTraffic, accountingZone: string = hostTimeZone()): TrafficConfig {
  const uplinkCapacity: UplinkCapacity = {
    down: raw.uplinkCapacity?.down === undefined ? null : parseRate(raw.uplinkCapacity.down, 'uplinkCapacity.down'),
    up: raw.uplinkCapacity?.up === undefined ? null : parseRate(raw.uplinkCapacity.up, 'uplinkCapacity.up'),
  };
  const entries = Object.entries(raw.policies ?? {});
  if (entries.length > MAX_POLICIES) {
    throw new FieldError('policies', 'range', `at most ${MAX_POLICIES} policies, got ${entries.length}`);
  }
  const policies = entries.map(([name, rp]) => normalizePolicy(name, rp, accountingZone));
  const traffic: TrafficConfig = { uplinkCapacity, policies, defaultPolicy: UNLIMITED_NAME, accountingZone };
  if (raw.defaultPolicy !== undefined)
    traffic.defaultPolicy = policyFor(traffic, raw.defaultPolicy, 'defaultPolicy').name;
  return traffic;
}

/**
 * The policy a client's `policy` field names (`name`; the default policy when
 * undefined), or a FieldError on `field`.
 */
export function policyFor(traffic: TrafficConfig, name: string | undefined, field: string): TrafficPolicy {
  const wanted = name ?? traffic.defaultPolicy;
  if (wanted === UNLIMITED_NAME) return UNLIMITED;
  const found = traffic.policies.find((p) => p.name === wanted);
  if (found !== undefined) return found;
  const known = [...traffic.policies.map((p) => showName(p.name)), UNLIMITED_NAME];
  const listed = known.length > 8 ? [...known.slice(0, 7), '...'] : known;
  throw new FieldError(field, 'invalid', `${show(wanted)} is not a policy (one of: ${listed.join(', ')})`);
}

function normalizePolicy(name: string, rp: RawPolicy, accountingZone: string): TrafficPolicy {
  const at = fieldPath(`/policies/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`, new Set(['policies']));
  if (name === UNLIMITED_NAME) {
    throw new FieldError(
      at,
      'invalid',
      `"${UNLIMITED_NAME}" is reserved (no quota, no limits); give the policy another name`,
    );
  }
  if (!POLICY_NAME.test(name)) {
    throw new FieldError(at, 'invalid', 'not a policy name (1-32 of a-z A-Z 0-9 _ -)');
  }
  const rate = rp.rate ?? {};
  const burst = rate.burst === undefined ? null : parseSize(rate.burst, `${at}.rate.burst`);
  if (burst === 0) throw new FieldError(`${at}.rate.burst`, 'range', 'must be at least 1 byte');
  if (burst !== null && rate.down === undefined && rate.up === undefined) {
    throw new FieldError(`${at}.rate.burst`, 'conflict', 'is the burst of rate.down or rate.up, and neither is set');
  }
  const limit = (value: unknown, field: string): RateLimit | null => {
    if (value === undefined) return null;
    const bitsPerSecond = parseRate(value, field);
    return { bitsPerSecond, burstBytes: burst ?? defaultBurst(bitsPerSecond) };
  };
  const down = limit(rate.down, `${at}.rate.down`);
  const up = limit(rate.up, `${at}.rate.up`);
  const quota = rp.quota === undefined ? null : normalizeQuota(rp.quota, `${at}.quota`, accountingZone, { down, up });
  return { name, quota, down, up, weight: rp.weight ?? 1 };
}

function normalizeQuota(
  rq: RawQuota,
  at: string,
  accountingZone: string,
  limits: { down: RateLimit | null; up: RateLimit | null },
): QuotaPolicy {
  const bytes = parseSize(rq.bytes, `${at}.bytes`);
  if (bytes === 0)
    throw new FieldError(`${at}.bytes`, 'range', 'must be at least 1 byte (to block a client, use a tiny quota)');
  const unit = rq.period;
  const resetDay = periodResetDay(unit, rq.resetDay, `${at}.resetDay`);
  let timeZone = accountingZone;
  if (rq.timeZone !== undefined) timeZone = zoneField(rq.timeZone, `${at}.timeZone`);
  const period: PeriodSpec = { unit, resetDay, resetHour: rq.resetHour ?? 0, timeZone };

  const atQuota = rq.atQuota ?? 'block';
  let throttle: RateLimit | null = null;
  if (atQuota === 'block' && rq.throttle !== undefined) {
    throw new FieldError(
      `${at}.throttle`,
      'conflict',
      `is only used with atQuota: throttle, and atQuota is block${rq.atQuota === undefined ? ' (the default)' : ''}`,
    );
  }
  if (atQuota === 'throttle') {
    if (rq.throttle === undefined) {
      throw new FieldError(
        `${at}.throttle`,
        'missing',
        'required with atQuota: throttle (the rate at the quota, e.g. 1Mbit)',
      );
    }
    const bitsPerSecond = parseRate(rq.throttle, `${at}.throttle`);
    for (const dir of ['down', 'up'] as const) {
      const limit = limits[dir];
      if (limit !== null && bitsPerSecond > limit.bitsPerSecond) {
        throw new FieldError(
          `${at}.throttle`,
          'conflict',
          `${formatRate(bitsPerSecond)} is above rate.${dir} ${formatRate(limit.bitsPerSecond)}`,
        );
      }
    }
    throttle = { bitsPerSecond, burstBytes: defaultBurst(bitsPerSecond) };
  }
  return { bytes, period, count: rq.count ?? 'both', atQuota, throttle };
}

/** resetDay of a period: month 1..31 (default 1), week 1..7 from a weekday name (default monday), day 0. */
function periodResetDay(unit: PeriodUnit, value: unknown, field: string): number {
  if (unit === 'day') {
    if (value !== undefined)
      throw new FieldError(field, 'conflict', 'not used with period: day (each day starts at resetHour)');
    return 0;
  }
  if (unit === 'week') {
    if (value === undefined) return 1;
    const day =
      typeof value === 'string' ? WEEKDAYS.indexOf(value.trim().toLowerCase() as (typeof WEEKDAYS)[number]) : -1;
    if (day < 0) {
      const got = typeof value === 'string' ? show(value) : String(value);
      throw new FieldError(field, 'invalid', `with period: week, a weekday (monday..sunday), got ${got}`);
    }
    return day + 1;
  }
  if (value === undefined) return 1;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    const got = typeof value === 'string' ? show(value) : String(value);
    throw new FieldError(field, 'invalid', `with period: month, a day of the month (1..${MONTH_DAY_MAX}), got ${got}`);
  }
  if (value < 1 || value > MONTH_DAY_MAX) {
    throw new FieldError(field, 'range', `must be a day of the month from 1 to ${MONTH_DAY_MAX}, got ${value}`);
  }
  return value;
}

/** An IANA time zone name, as the runtime spells it ("europe/berlin" is Europe/Berlin). */
function zoneField(text: string, field: string): string {
  const name = text.trim();
  if (!IANAZone.isValidZone(name) || !/^[A-Za-z]/.test(name)) {
    throw new FieldError(
      field,
      'invalid',
      `${show(text)} is not a time zone (an IANA name such as Europe/Berlin or UTC)`,
    );
  }
  return new Intl.DateTimeFormat('en', { timeZone: name }).resolvedOptions().timeZone;
}
