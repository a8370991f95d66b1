import { describe, expect, test } from 'vitest';
import { quotaInfo } from '../../test/support/quota-info.js';
import { isoSeconds, quotaChanged, quotaStatus, renderQuota } from './quota-status.js';

const BLOCKED = quotaInfo();

describe('quota status', () => {
  test('the JSON form: ISO period end in whole seconds, null for no quota and no limit, limits in bit/s', () => {
    expect(isoSeconds(1_798_758_000)).toBe('2026-12-31T23:00:00Z');
    expect(quotaStatus(BLOCKED)).toEqual({
      state: 'blocked',
      count: 'both',
      used: 50_000_000,
      quota: 50_000_000,
      periodEnd: '2026-12-31T23:00:00Z',
      limitDown: null,
      limitUp: null,
    });
    expect(
      quotaStatus({ ...BLOCKED, state: 'ok', count: 'none', used: 0, quota: 0, limitDownKbps: 50_000, limitUpKbps: 8 }),
    ).toMatchObject({ count: null, quota: null, limitDown: 50_000_000, limitUp: 8_000 });
  });

  test('the line meshgate show prints', () => {
    expect(renderQuota(quotaStatus(BLOCKED))).toBe(
      'blocked, 50.0 MB of 50.0 MB used, period ends 2026-12-31T23:00:00Z',
    );
    const throttled = { ...BLOCKED, state: 'throttled', used: 212_345_678_901, quota: 200e9 } as const;
    expect(renderQuota(quotaStatus({ ...throttled, limitDownKbps: 1000, limitUpKbps: 1000 }))).toBe(
      'throttled, 212.3 GB of 200.0 GB used, period ends 2026-12-31T23:00:00Z, limited to 1.0 Mbit/s down, 1.0 Mbit/s up',
    );
    expect(renderQuota(quotaStatus({ ...BLOCKED, state: 'ok', used: 999 }))).toBe(
      'ok, 999 B of 50.0 MB used, period ends 2026-12-31T23:00:00Z',
    );
    const unlimited = { ...BLOCKED, state: 'ok', count: 'none', used: 0, quota: 0 } as const;
    expect(renderQuota(quotaStatus(unlimited))).toBe('none');
    expect(renderQuota(quotaStatus({ ...unlimited, limitUpKbps: 10_000 }))).toBe('none, limited to 10.0 Mbit/s up');
  });

  test('a change worth a log line: state, quota or period end; not the bytes used or the limits', () => {
    expect(quotaChanged(null, BLOCKED)).toBe(true);
    expect(quotaChanged(BLOCKED, { ...BLOCKED, used: 60_000_000, limitDownKbps: 5 })).toBe(false);
    expect(quotaChanged(BLOCKED, { ...BLOCKED, state: 'ok' })).toBe(true);
    expect(quotaChanged(BLOCKED, { ...BLOCKED, quota: 60_000_000 })).toBe(true);
    expect(quotaChanged(BLOCKED, { ...BLOCKED, periodEnd: BLOCKED.periodEnd + 86_400 })).toBe(true);
  });
});
