// Accounting periods: which day, week or month a moment belongs to, in the
// policy's time zone (docs/gateway-config.md, "Quotas, rate limits and fair
// share"). Pure: the moment is passed in.
//
// A period starts at resetHour:00 local time on its reset day and ends where
// the next one starts, so consecutive periods tile time. Local times that do
// not exist (a spring-forward gap) start at the first instant after the gap;
// local times that exist twice (fall-back) start at the first occurrence. A
// month's resetDay beyond its last day is its last day. Calendar and zone
// arithmetic is luxon's (IANA zone data from the runtime's Intl).

import { DateTime, IANAZone } from 'luxon';
import type { PeriodSpec } from './policy.js';

export interface Period {
  /** Epoch ms, inclusive. */
  start: number;
  /** Epoch ms, exclusive: the next period's start. */
  end: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Offsets lie within UTC-12..UTC+14: the instant of a local time lies within this of it. */
const OFFSET_SPAN = 15 * HOUR;

/** The period of `spec` that contains `wallMs` (epoch ms): start <= wallMs < end. Throws RangeError on an unknown zone. */
export function periodAt(spec: PeriodSpec, wallMs: number): Period {
  if (!Number.isFinite(wallMs)) throw new RangeError(`not a moment: ${wallMs}`);
  const zone = IANAZone.create(spec.timeZone);
  if (!zone.isValid) throw new RangeError(`unknown time zone ${JSON.stringify(spec.timeZone)}`);
  const local = DateTime.fromMillis(wallMs, { zone }).setZone('UTC', { keepLocalTime: true }).startOf('day');

  // Period k starts at resetOf(k); k counts days, weeks or months from a base near wallMs.
  let base: DateTime;
  let step: (k: number) => DateTime;
  switch (spec.unit) {
    case 'day':
      base = local;
      step = (k) => base.plus({ days: k });
      break;
    case 'week':
      base = local.minus({ days: (local.weekday - spec.resetDay + 7) % 7 });
      step = (k) => base.plus({ weeks: k });
      break;
    case 'month': {
      base = local.startOf('month');
      step = (k) => {
        const month = base.plus({ months: k });
        return month.set({ day: Math.min(spec.resetDay, month.daysInMonth!) });
      };
      break;
    }
  }
  const resetOf = (k: number): number => instantOf(zone, step(k).set({ hour: spec.resetHour }).toMillis());

  // The base is at most one period off (a reset later that day, or a gap moving it across midnight).
  let k = 0;
  while (resetOf(k) > wallMs) k--;
  while (resetOf(k + 1) <= wallMs) k++;
  return { start: resetOf(k), end: resetOf(k + 1) };
}

/**
 * The instant (epoch ms) of a local wall-clock time in `zone`, given as ms
 * since the epoch as if the zone were UTC: the first occurrence when it
 * exists twice, the end of the gap when it does not exist.
 */
export function instantOf(zone: IANAZone, localMs: number): number {
  const offsets = new Set<number>();
  for (const probe of [-OFFSET_SPAN, -OFFSET_SPAN / 2, 0, OFFSET_SPAN / 2, OFFSET_SPAN]) {
    offsets.add(zone.offset(localMs + probe));
  }
  let first = Infinity;
  for (const offset of offsets) {
    const at = localMs - offset * MINUTE;
    if (zone.offset(at) === offset && at < first) first = at;
  }
  if (first !== Infinity) return first;
  // In a gap: the offset changes from the smaller to the larger one between
  // these two readings of the local time; the transition is the gap's end.
  const sorted = [...offsets].sort((a, b) => a - b);
  let before = localMs - sorted[sorted.length - 1]! * MINUTE;
  let after = localMs - sorted[0]! * MINUTE;
  const offsetBefore = zone.offset(before);
  while (after - before > 1) {
    const mid = Math.floor((before + after) / 2);
    if (zone.offset(mid) === offsetBefore) before = mid;
    else after = mid;
  }
  return after;
}
