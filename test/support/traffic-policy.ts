// TrafficPolicy and QuotaPolicy builders for the shaper's unit tests: a policy
// named 'test' without limits, a quota per calendar month in UTC counting both
// directions; a test gives the fields it is about.

import {
  ACCOUNTING_PERIOD_DEFAULT,
  UNLIMITED,
  type QuotaPolicy,
  type RateLimit,
  type TrafficPolicy,
} from '../../gateway/traffic/policy.js';

/** The throttle of a quota built with atQuota 'throttle': 1 Mbit/s, the smallest default burst. */
export const TEST_THROTTLE: Readonly<RateLimit> = Object.freeze({ bitsPerSecond: 1_000_000, burstBytes: 16_384 });

export function trafficPolicy(fields: Partial<TrafficPolicy> = {}): TrafficPolicy {
  return { ...UNLIMITED, name: 'test', ...fields };
}

/** `bytes` per UTC month, both directions; at the quota block, or throttle to TEST_THROTTLE. */
export function quotaPolicy(
  bytes: number,
  atQuota: QuotaPolicy['atQuota'] = 'block',
  fields: Partial<QuotaPolicy> = {},
): QuotaPolicy {
  return {
    bytes,
    period: ACCOUNTING_PERIOD_DEFAULT('UTC'),
    count: 'both',
    atQuota,
    throttle: atQuota === 'throttle' ? { ...TEST_THROTTLE } : null,
    ...fields,
  };
}
