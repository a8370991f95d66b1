// ClientUsage with a fake clock (wall times passed in): counting, quota states
// exactly at the quota, rollover at the period end, resuming a stored row, and
// the checkpoint/restart arithmetic (nothing charged twice, nothing lost).
import { describe, expect, it } from 'vitest';
import { quotaPolicy, trafficPolicy } from '../../test/support/traffic-policy.js';
import type { QuotaPolicy, TrafficPolicy } from './policy.js';
import { ClientUsage, quotaStateOf, usedOf, type UsageRow } from './usage.js';

const KEY = 'kZ8/YvGzN5tRfQ9XbN0ZkH1v7Q9yq3C2m3Xb9l6W6mI=';
const OTHER = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
const DEC_1 = Date.UTC(2026, 11, 1); // periods below are in UTC unless said otherwise
const DEC_15 = Date.UTC(2026, 11, 15, 12);
const JAN_1 = Date.UTC(2027, 0, 1);
const FEB_1 = Date.UTC(2027, 1, 1);
const MAR_1 = Date.UTC(2027, 2, 1);

const quota = (bytes: number, extra: Partial<QuotaPolicy> = {}): QuotaPolicy => quotaPolicy(bytes, 'block', extra);
const policy = (q: QuotaPolicy | null): TrafficPolicy => trafficPolicy({ quota: q });
const throttled = (bytes: number, count: QuotaPolicy['count'] = 'both'): TrafficPolicy =>
  policy(quotaPolicy(bytes, 'throttle', { count }));

function usage(p: TrafficPolicy, at = DEC_15, stored?: UsageRow): ClientUsage {
  return new ClientUsage(KEY, p, 'UTC', at, stored);
}

describe('ClientUsage: counting', () => {
  it('counts bytes and packets per direction', () => {
    const u = usage(policy(null));
    u.add('down', 1500);
    u.add('down', 40);
    u.add('up', 576);
    expect({ d: u.downBytes, u: u.upBytes, dp: u.downPackets, up: u.upPackets }).toEqual({
      d: 1540,
      u: 576,
      dp: 2,
      up: 1,
    });
    expect(u.row(DEC_15 + 1)).toEqual({
      publicKey: KEY,
      periodStart: DEC_1,
      periodEnd: JAN_1,
      downBytes: 1540,
      upBytes: 576,
      downPackets: 2,
      upPackets: 1,
      updatedAt: DEC_15 + 1,
    });
  });

  it('counts `used` by the quota’s count mode, 0 without a quota', () => {
    const cases: [TrafficPolicy, number][] = [
      [policy(null), 0],
      [policy(quota(10 ** 9, { count: 'download' })), 1000],
      [policy(quota(10 ** 9, { count: 'upload' })), 300],
      [policy(quota(10 ** 9, { count: 'both' })), 1300],
    ];
    for (const [p, used] of cases) {
      const u = usage(p);
      u.add('down', 1000);
      u.add('up', 300);
      expect(u.used, p.quota?.count ?? 'no quota').toBe(used);
      expect(usedOf(p, u)).toBe(used);
      expect(u.state).toBe('ok');
    }
  });

  it('unlimited clients count in calendar months of the accounting zone', () => {
    // 2026-12-15 12:00 UTC is in Berlin's December, which starts at 2026-11-30 23:00 UTC.
    const u = new ClientUsage(KEY, policy(null), 'Europe/Berlin', DEC_15, undefined);
    expect(u.periodStart).toBe(Date.UTC(2026, 10, 30, 23));
    expect(u.periodEnd).toBe(Date.UTC(2026, 11, 31, 23));
  });
});

describe('ClientUsage: quota state', () => {
  it('blocks exactly at the quota (both directions counted)', () => {
    const u = usage(policy(quota(10_000)));
    u.add('down', 6_000);
    u.add('up', 3_999);
    expect(u.state).toBe('ok');
    expect(u.stateChanged).toBe(false);
    u.add('up', 1);
    expect(u.used).toBe(10_000);
    expect(u.state).toBe('blocked');
    expect(u.stateChanged).toBe(true);
    u.stateChanged = false; // the gateway's checkpoint read it
    u.add('down', 500); // e.g. traffic to the gateway itself is not charged, but what is, still counts
    expect(u.state).toBe('blocked');
    expect(u.stateChanged).toBe(false);
    expect(u.used).toBe(10_500);
  });

  it('throttles exactly at the quota, counting only the configured direction', () => {
    const u = usage(throttled(1_000, 'download'));
    u.add('up', 5_000); // uploads do not count
    expect(u.state).toBe('ok');
    u.add('down', 999);
    expect(u.state).toBe('ok');
    u.add('down', 1);
    expect(u.state).toBe('throttled');
    expect(u.stateChanged).toBe(true);

    const up = usage(throttled(1_000, 'upload'));
    up.add('down', 10_000);
    expect(up.state).toBe('ok');
    up.add('up', 1_500); // one packet past the quota: the state changes on it
    expect(up.state).toBe('throttled');
  });

  it('quotaStateOf agrees', () => {
    expect(quotaStateOf(policy(null), 10 ** 15)).toBe('ok');
    expect(quotaStateOf(policy(quota(5)), 4)).toBe('ok');
    expect(quotaStateOf(policy(quota(5)), 5)).toBe('blocked');
    expect(quotaStateOf(throttled(5), 5)).toBe('throttled');
  });
});

describe('ClientUsage: periods', () => {
  it('rolls over at the period end: history row, counters zero, state ok', () => {
    const u = usage(policy(quota(1_000)));
    u.add('down', 1_200);
    expect(u.state).toBe('blocked');
    u.stateChanged = false;
    expect(u.rollover(JAN_1 - 1)).toBeNull();
    expect(u.state).toBe('blocked');
    const finished = u.rollover(JAN_1);
    expect(finished).toEqual({
      publicKey: KEY,
      periodStart: DEC_1,
      periodEnd: JAN_1,
      downBytes: 1_200,
      upBytes: 0,
      downPackets: 1,
      upPackets: 0,
      updatedAt: JAN_1,
    });
    expect([u.periodStart, u.periodEnd]).toEqual([JAN_1, FEB_1]);
    expect([u.downBytes, u.upBytes, u.downPackets, u.upPackets, u.used]).toEqual([0, 0, 0, 0, 0]);
    expect(u.state).toBe('ok');
    expect(u.stateChanged).toBe(true);
    expect(u.rollover(JAN_1 + 1)).toBeNull();
    // Counting and the quota work in the new period as in the first.
    u.add('up', 999);
    expect(u.state).toBe('ok');
    u.add('up', 1);
    expect(u.state).toBe('blocked');
  });

  it('a rollover of an ok client does not report a state change', () => {
    const u = usage(policy(quota(1_000)));
    u.add('down', 10);
    expect(u.rollover(JAN_1 + 5)).toMatchObject({ downBytes: 10 });
    expect(u.stateChanged).toBe(false);
  });

  it('skips the periods in which the gateway did not run', () => {
    const u = usage(policy(null));
    u.add('down', 7);
    expect(u.rollover(Date.UTC(2027, 1, 20))).toMatchObject({ periodStart: DEC_1, periodEnd: JAN_1, downBytes: 7 });
    expect([u.periodStart, u.periodEnd]).toEqual([FEB_1, MAR_1]);
  });

  it('a day period with a reset hour in a zone', () => {
    const p = policy(quota(100, { period: { unit: 'day', resetDay: 0, resetHour: 6, timeZone: 'Asia/Tokyo' } }));
    // 06:00 in Tokyo (UTC+9) is 21:00 UTC the day before.
    const u = new ClientUsage(KEY, p, 'UTC', Date.UTC(2026, 11, 15, 12), undefined);
    expect([u.periodStart, u.periodEnd]).toEqual([Date.UTC(2026, 11, 14, 21), Date.UTC(2026, 11, 15, 21)]);
  });
});

describe('ClientUsage: stored rows and restarts', () => {
  const row = (periodStart: number, publicKey = KEY): UsageRow => ({
    publicKey,
    periodStart,
    periodEnd: periodStart === DEC_1 ? JAN_1 : DEC_1,
    downBytes: 800,
    upBytes: 300,
    downPackets: 8,
    upPackets: 3,
    updatedAt: DEC_15 - 1_000,
  });

  it('resumes a stored row of the same period, with its state', () => {
    const u = usage(policy(quota(1_000)), DEC_15, row(DEC_1));
    expect([u.downBytes, u.upBytes, u.downPackets, u.upPackets]).toEqual([800, 300, 8, 3]);
    expect(u.used).toBe(1_100);
    expect(u.state).toBe('blocked');
    expect(u.stateChanged).toBe(false);
  });

  it('starts from zero with a row of another period or another key', () => {
    const nov = usage(policy(quota(1_000)), DEC_15, row(Date.UTC(2026, 10, 1)));
    expect([nov.downBytes, nov.upBytes, nov.state]).toEqual([0, 0, 'ok']);
    const other = usage(policy(quota(1_000)), DEC_15, row(DEC_1, OTHER));
    expect([other.downBytes, other.upBytes, other.state]).toEqual([0, 0, 'ok']);
    // The gateway restarted after the period ended: the December row is history.
    const jan = usage(policy(quota(1_000)), JAN_1 + 60_000, row(DEC_1));
    expect([jan.periodStart, jan.downBytes, jan.state]).toEqual([JAN_1, 0, 'ok']);
  });

  it('charges nothing twice and loses nothing across checkpoints and restarts', () => {
    // The store's UPSERT of absolute values, by (key, period start).
    const stored = new Map<string, UsageRow>();
    const save = (r: UsageRow | null) => r !== null && stored.set(`${r.publicKey}/${r.periodStart}`, r);
    const latest = (): UsageRow | undefined => [...stored.values()].sort((a, b) => b.periodStart - a.periodStart)[0];
    const p = policy(quota(10 ** 12));
    let now = DEC_15;
    const sent = { down: 0, up: 0 };
    let u = usage(p, now);
    for (let run = 0; run < 4; run++) {
      for (let second = 0; second < 5; second++) {
        for (let i = 0; i < 100; i++) {
          const bytes = 60 + ((i * 37) % 1_400);
          u.add(i % 3 === 0 ? 'up' : 'down', bytes);
          if (i % 3 === 0) sent.up += bytes;
          else sent.down += bytes;
        }
        now += 1_000;
        save(u.rollover(now));
        save(u.row(now)); // the 1 s checkpoint
        save(u.row(now)); // a replayed checkpoint changes nothing
      }
      u = usage(p, now, latest()); // clean restart: resumed from the last checkpoint
      expect([u.downBytes, u.upBytes]).toEqual([sent.down, sent.up]);
      expect(u.downPackets + u.upPackets).toBe((run + 1) * 500);
    }
    expect(stored.size).toBe(1);
    // Traffic after the last checkpoint is what a SIGKILL loses, and only that.
    u.add('down', 1_000);
    const restarted = usage(p, now + 500, latest());
    expect(restarted.downBytes).toBe(sent.down);
  });

  it('keeps one row per period across a rollover and resumes the new one', () => {
    const stored = new Map<number, UsageRow>();
    const p = policy(quota(1_000));
    const u = usage(p, JAN_1 - 2_000);
    u.add('down', 400);
    stored.set(u.periodStart, u.row(JAN_1 - 1_000));
    u.add('down', 700); // blocked just before the new year
    expect(u.state).toBe('blocked');
    const finished = u.rollover(JAN_1 + 200)!;
    stored.set(finished.periodStart, finished);
    u.add('up', 50);
    stored.set(u.periodStart, u.row(JAN_1 + 200));
    expect(stored.get(DEC_1)).toMatchObject({ downBytes: 1_100, upBytes: 0 });
    expect(stored.get(JAN_1)).toMatchObject({ downBytes: 0, upBytes: 50 });
    const again = usage(p, JAN_1 + 5_000, stored.get(JAN_1));
    expect([again.used, again.state]).toEqual([50, 'ok']);
  });
});

describe('ClientUsage: setPolicy', () => {
  it('recomputes the state with the same period: quota lowered, raised, removed', () => {
    const u = usage(policy(quota(10_000)));
    u.add('down', 3_000);
    u.add('up', 1_000);
    expect(u.setPolicy(policy(quota(4_000)), DEC_15)).toBeNull();
    expect(u.state).toBe('blocked');
    expect(u.stateChanged).toBe(true);
    u.stateChanged = false;
    expect(u.setPolicy(throttled(4_000), DEC_15)).toBeNull();
    expect(u.state).toBe('throttled');
    expect(u.setPolicy(policy(quota(4_000, { count: 'upload' })), DEC_15)).toBeNull();
    expect([u.used, u.state]).toEqual([1_000, 'ok']);
    u.add('up', 2_999);
    expect(u.state).toBe('ok');
    u.add('up', 1);
    expect(u.state).toBe('blocked');
    expect(u.setPolicy(policy(null), DEC_15)).toBeNull();
    expect([u.used, u.state, u.downBytes, u.upBytes]).toEqual([0, 'ok', 3_000, 4_000]);
    u.add('down', 10 ** 9);
    expect(u.state).toBe('ok');
    expect([u.periodStart, u.periodEnd]).toEqual([DEC_1, JAN_1]);
  });

  it('a policy with another period finishes the current one (history) and counts anew', () => {
    const u = usage(policy(quota(1_000)));
    u.add('down', 1_000);
    expect(u.state).toBe('blocked');
    const daily = policy(quota(1_000, { period: { unit: 'day', resetDay: 0, resetHour: 0, timeZone: 'UTC' } }));
    const finished = u.setPolicy(daily, DEC_15);
    expect(finished).toMatchObject({ periodStart: DEC_1, periodEnd: JAN_1, downBytes: 1_000 });
    expect([u.periodStart, u.periodEnd]).toEqual([Date.UTC(2026, 11, 15), Date.UTC(2026, 11, 16)]);
    expect([u.downBytes, u.state, u.stateChanged]).toEqual([0, 'ok', true]);
    // Same start, other end (a month that starts at the same midnight): counters kept.
    const m = usage(
      policy(quota(10 ** 6, { period: { unit: 'day', resetDay: 0, resetHour: 0, timeZone: 'UTC' } })),
      DEC_1,
    );
    m.add('up', 42);
    expect(m.setPolicy(policy(quota(10 ** 6)), DEC_1 + 1)).toBeNull();
    expect([m.upBytes, m.periodEnd]).toEqual([42, JAN_1]);
  });
});
