// Accounting periods at fixed instants: days, weeks and months, reset days
// beyond a month's end, reset hours, zones with and without daylight saving
// (a 30-minute shift included), the spring-forward gap and the fall-back
// overlap; and, randomized, that consecutive periods tile time.

import fc from 'fast-check';
import { IANAZone } from 'luxon';
import { describe, expect, it } from 'vitest';
import { instantOf, periodAt } from './period.js';
import type { PeriodSpec, PeriodUnit } from './policy.js';

const at = (iso: string): number => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad test instant ${iso}`);
  return ms;
};
const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
const spec = (unit: PeriodUnit, resetDay: number, resetHour: number, timeZone: string): PeriodSpec => ({
  unit,
  resetDay,
  resetHour,
  timeZone,
});
/** The period as UTC ISO strings. */
const period = (s: PeriodSpec, when: string): [string, string] => {
  const p = periodAt(s, at(when));
  return [iso(p.start), iso(p.end)];
};
const HOUR = 3_600_000;

/** [unit, resetDay, resetHour, zone, an instant, the period's start and end at it], instants in UTC. */
type Case = [PeriodUnit, number, number, string, string, string, string];

const CALENDAR: Case[] = [
  // A day from resetHour to resetHour; 23:00 in Berlin (UTC+1 in winter) is 22:00 UTC.
  ['day', 0, 0, 'UTC', '2026-12-02T00:15:00Z', '2026-12-02T00:00:00Z', '2026-12-03T00:00:00Z'],
  ['day', 0, 6, 'UTC', '2026-12-02T05:59:59.999Z', '2026-12-01T06:00:00Z', '2026-12-02T06:00:00Z'],
  ['day', 0, 6, 'UTC', '2026-12-02T06:00:00Z', '2026-12-02T06:00:00Z', '2026-12-03T06:00:00Z'],
  ['day', 0, 23, 'Europe/Berlin', '2026-12-02T21:00:00Z', '2026-12-01T22:00:00Z', '2026-12-02T22:00:00Z'],
  // A week from its weekday (1 = Monday); 2026-12-02 is a Wednesday. Monday
  // 00:00 in Kolkata (UTC+5:30) is Sunday 18:30 UTC.
  ['week', 1, 0, 'UTC', '2026-12-02T12:00:00Z', '2026-11-30T00:00:00Z', '2026-12-07T00:00:00Z'],
  ['week', 3, 12, 'UTC', '2026-12-02T11:59:00Z', '2026-11-25T12:00:00Z', '2026-12-02T12:00:00Z'],
  ['week', 3, 12, 'UTC', '2026-12-02T12:00:00Z', '2026-12-02T12:00:00Z', '2026-12-09T12:00:00Z'],
  ['week', 7, 0, 'UTC', '2026-12-02T12:00:00Z', '2026-11-29T00:00:00Z', '2026-12-06T00:00:00Z'],
  ['week', 1, 0, 'Asia/Kolkata', '2026-11-29T18:29:59Z', '2026-11-22T18:30:00Z', '2026-11-29T18:30:00Z'],
  ['week', 1, 0, 'Asia/Kolkata', '2026-11-29T18:30:00Z', '2026-11-29T18:30:00Z', '2026-12-06T18:30:00Z'],
  // A month from its reset day, across a year end; the 1st at 00:00 in
  // Kolkata is the last day of the month before, 18:30 UTC.
  ['month', 1, 0, 'UTC', '2026-12-31T23:59:59Z', '2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z'],
  ['month', 15, 8, 'UTC', '2027-01-10T00:00:00Z', '2026-12-15T08:00:00Z', '2027-01-15T08:00:00Z'],
  ['month', 1, 0, 'Asia/Kolkata', '2026-11-30T18:29:00Z', '2026-10-31T18:30:00Z', '2026-11-30T18:30:00Z'],
  // resetDay 31 is the last day of February (2028 is a leap year) and of April; 30 and 29 likewise.
  ['month', 31, 0, 'UTC', '2026-02-15T00:00:00Z', '2026-01-31T00:00:00Z', '2026-02-28T00:00:00Z'],
  ['month', 31, 0, 'UTC', '2026-03-01T00:00:00Z', '2026-02-28T00:00:00Z', '2026-03-31T00:00:00Z'],
  ['month', 31, 0, 'UTC', '2028-02-29T12:00:00Z', '2028-02-29T00:00:00Z', '2028-03-31T00:00:00Z'],
  ['month', 31, 0, 'UTC', '2026-04-30T00:00:00Z', '2026-04-30T00:00:00Z', '2026-05-31T00:00:00Z'],
  ['month', 31, 0, 'UTC', '2026-04-29T23:00:00Z', '2026-03-31T00:00:00Z', '2026-04-30T00:00:00Z'],
  ['month', 30, 0, 'UTC', '2026-03-01T00:00:00Z', '2026-02-28T00:00:00Z', '2026-03-30T00:00:00Z'],
  ['month', 29, 0, 'UTC', '2028-03-01T00:00:00Z', '2028-02-29T00:00:00Z', '2028-03-29T00:00:00Z'],
  // A month in New York is a month of local midnights, whatever the offset:
  // March 2026 is EST (-5) on the 1st, EDT (-4) on April 1st.
  ['month', 1, 0, 'America/New_York', '2026-03-20T00:00:00Z', '2026-03-01T05:00:00Z', '2026-04-01T04:00:00Z'],
];

const DAYLIGHT_SAVING: Case[] = [
  // Berlin: a day is 23 hours in March and 25 in October.
  ['day', 0, 0, 'Europe/Berlin', '2026-03-29T12:00:00Z', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z'],
  ['day', 0, 0, 'Europe/Berlin', '2026-10-25T12:00:00Z', '2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z'],
  // A reset hour inside the spring-forward gap starts at the first instant
  // after it. Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00 UTC.
  // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00 UTC (a
  // monthly reset on that day, too). Lord Howe, 2026-10-04: 02:00 LHST
  // (+10:30) jumps to 02:30 LHDT (+11) at 15:30 UTC the day before.
  ['day', 0, 2, 'Europe/Berlin', '2026-03-29T01:00:00Z', '2026-03-29T01:00:00Z', '2026-03-30T00:00:00Z'],
  ['day', 0, 2, 'Europe/Berlin', '2026-03-29T00:59:59Z', '2026-03-28T01:00:00Z', '2026-03-29T01:00:00Z'],
  ['day', 0, 2, 'America/New_York', '2026-03-08T12:00:00Z', '2026-03-08T07:00:00Z', '2026-03-09T06:00:00Z'],
  ['month', 8, 2, 'America/New_York', '2026-03-20T00:00:00Z', '2026-03-08T07:00:00Z', '2026-04-08T06:00:00Z'],
  ['day', 0, 2, 'Australia/Lord_Howe', '2026-10-04T12:00:00Z', '2026-10-03T15:30:00Z', '2026-10-04T15:00:00Z'],
  // A reset hour that happens twice (fall-back) starts at its first
  // occurrence. New York, 2026-11-01: 01:00-02:00 happens in EDT (05:00-06:00
  // UTC), then again in EST (06:00-07:00 UTC). Berlin, 2026-10-25: 02:00-03:00
  // happens in CEST (00:00 UTC), then in CET (01:00 UTC).
  ...['2026-11-01T05:00:00Z', '2026-11-01T05:30:00Z', '2026-11-01T06:30:00Z', '2026-11-02T05:59:00Z'].map(
    (when): Case => ['day', 0, 1, 'America/New_York', when, '2026-11-01T05:00:00Z', '2026-11-02T06:00:00Z'],
  ),
  ['week', 7, 2, 'Europe/Berlin', '2026-10-25T01:30:00Z', '2026-10-25T00:00:00Z', '2026-11-01T01:00:00Z'],
  ['week', 7, 2, 'Europe/Berlin', '2026-10-24T23:59:59Z', '2026-10-18T00:00:00Z', '2026-10-25T00:00:00Z'],
];

/** One row: the period at its instant. */
function checkCase(
  unit: PeriodUnit,
  resetDay: number,
  resetHour: number,
  zone: string,
  when: string,
  ...startEnd: string[]
) {
  expect(period(spec(unit, resetDay, resetHour, zone), when)).toEqual(startEnd);
}

describe('periodAt: days, weeks, months', () => {
  it.each(CALENDAR)('%s from day %i hour %i in %s, at %s', checkCase);

  it('refuses an unknown zone or a moment that is not one', () => {
    expect(() => periodAt(spec('day', 0, 0, 'Mars/Olympus_Mons'), 0)).toThrow(/unknown time zone "Mars\/Olympus_Mons"/);
    expect(() => periodAt(spec('day', 0, 0, 'UTC'), NaN)).toThrow(RangeError);
  });
});

describe('periodAt: daylight saving', () => {
  it.each(DAYLIGHT_SAVING)('%s from day %i hour %i in %s, at %s', checkCase);

  it('Lord Howe: the 30-minute shift back, a 24.5-hour day', () => {
    // 2026-04-05 02:00 LHDT goes back to 01:30 LHST at 15:00 UTC the day before.
    const s0 = spec('day', 0, 0, 'Australia/Lord_Howe');
    const p = periodAt(s0, at('2026-04-05T03:00:00Z'));
    expect(iso(p.start)).toBe('2026-04-04T13:00:00Z'); // 00:00 +11
    expect(iso(p.end)).toBe('2026-04-05T13:30:00Z'); // 00:00 +10:30
    expect((p.end - p.start) / HOUR).toBe(24.5);
  });

  it('instantOf: existing, doubled and missing local times', () => {
    const ny = IANAZone.create('America/New_York');
    const local = (s: string) => at(`${s}Z`); // local wall-clock time written as if UTC
    expect(iso(instantOf(ny, local('2026-07-01T12:00:00')))).toBe('2026-07-01T16:00:00Z');
    expect(iso(instantOf(ny, local('2026-11-01T01:30:00')))).toBe('2026-11-01T05:30:00Z');
    expect(iso(instantOf(ny, local('2026-03-08T02:00:00')))).toBe('2026-03-08T07:00:00Z');
    expect(iso(instantOf(ny, local('2026-03-08T02:45:00')))).toBe('2026-03-08T07:00:00Z');
  });
});

describe('periodAt: periods tile time (randomized)', () => {
  const ZONES = [
    'UTC',
    'Europe/Berlin',
    'America/New_York',
    'Australia/Lord_Howe',
    'Asia/Kolkata',
    'America/Santiago', // changes at midnight
    'Pacific/Chatham', // +12:45/+13:45
    'America/St_Johns', // -3:30
  ];
  const specs = fc.oneof(
    fc.record({
      unit: fc.constant<PeriodUnit>('day'),
      resetDay: fc.constant(0),
      resetHour: fc.integer({ min: 0, max: 23 }),
      timeZone: fc.constantFrom(...ZONES),
    }),
    fc.record({
      unit: fc.constant<PeriodUnit>('week'),
      resetDay: fc.integer({ min: 1, max: 7 }),
      resetHour: fc.integer({ min: 0, max: 23 }),
      timeZone: fc.constantFrom(...ZONES),
    }),
    fc.record({
      unit: fc.constant<PeriodUnit>('month'),
      resetDay: fc.integer({ min: 1, max: 31 }),
      resetHour: fc.integer({ min: 0, max: 23 }),
      timeZone: fc.constantFrom(...ZONES),
    }),
  );
  // 2000..2060, and often near a daylight-saving change (the last Sundays of March and October, the first of November).
  const instants = fc.oneof(
    fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2060, 0, 1) }),
    fc
      .tuple(
        fc.integer({ min: 2020, max: 2035 }),
        fc.constantFrom(2, 3, 9, 10),
        fc.integer({ min: 0, max: 14 * 24 * 60 }),
      )
      .map(([y, m, minutes]) => Date.UTC(y, m, 1) - 7 * 24 * HOUR + minutes * 60_000),
  );

  it('start <= t < end, and the period at end starts at end; the one before ends at start', () => {
    fc.assert(
      fc.property(specs, instants, (s, t) => {
        const p = periodAt(s, t);
        expect(p.start).toBeLessThanOrEqual(t);
        expect(t).toBeLessThan(p.end);
        const next = periodAt(s, p.end);
        expect(next.start).toBe(p.end);
        const before = periodAt(s, p.start - 1);
        expect(before.end).toBe(p.start);
        // Lengths stay in their unit's bounds (a day of 23..25 hours, at most a 24-hour jump of a zone).
        const hours = (p.end - p.start) / HOUR;
        const [min, max] =
          s.unit === 'day' ? [22, 26] : s.unit === 'week' ? [7 * 24 - 2, 7 * 24 + 2] : [27 * 24, 32 * 24];
        expect(hours).toBeGreaterThanOrEqual(min);
        expect(hours).toBeLessThanOrEqual(max);
      }),
      { numRuns: 1000 },
    );
  });

  it('every instant of a period has the same period', () => {
    fc.assert(
      fc.property(specs, instants, fc.double({ min: 0, max: 1, noNaN: true }), (s, t, f) => {
        const p = periodAt(s, t);
        const inside = p.start + Math.floor((p.end - 1 - p.start) * f);
        expect(periodAt(s, inside)).toEqual(p);
      }),
      { numRuns: 1000 },
    );
  });
});
