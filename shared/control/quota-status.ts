// A client's quota state as its agent reports it: the QUOTA the gateway sent
// (docs/lease-protocol.md) in the JSON form of the agent's log and status, and
// the one line `meshgate show` prints for it.

import type { QuotaInfo, QuotaInfoState } from '../lease/message.js';

export interface QuotaStatus {
  state: QuotaInfoState;
  /** What the quota counts; null without a quota. */
  count: 'download' | 'upload' | 'both' | null;
  /** Bytes counted toward the quota this period. */
  used: number;
  /** Bytes; null without a quota. */
  quota: number | null;
  /** ISO 8601 UTC, whole seconds. */
  periodEnd: string;
  /** Bits per second in force now (the throttle when throttled); null: no limit. */
  limitDown: number | null;
  limitUp: number | null;
}

const KBIT = 1000;
const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
const RATE_UNITS = ['kbit/s', 'Mbit/s', 'Gbit/s'];

/** Unix seconds as ISO 8601 UTC without milliseconds: 2026-12-31T23:00:00Z. */
export function isoSeconds(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function quotaStatus(q: QuotaInfo): QuotaStatus {
  const none = q.count === 'none';
  return {
    state: q.state,
    count: q.count === 'none' ? null : q.count,
    used: q.used,
    quota: none ? null : q.quota,
    periodEnd: isoSeconds(q.periodEnd),
    limitDown: q.limitDownKbps === 0 ? null : q.limitDownKbps * KBIT,
    limitUp: q.limitUpKbps === 0 ? null : q.limitUpKbps * KBIT,
  };
}

/** Whether the agent logs a new QUOTA: the state, the quota or the period end changed (not the bytes used). */
export function quotaChanged(previous: QuotaInfo | null, next: QuotaInfo): boolean {
  return (
    previous === null ||
    previous.state !== next.state ||
    previous.count !== next.count ||
    previous.quota !== next.quota ||
    previous.periodEnd !== next.periodEnd
  );
}

/** Decimal units with one decimal: 50.0 MB (bytes under 1000 as they are). */
function size(bytes: number): string {
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < BYTE_UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${bytes} B` : `${v.toFixed(1)} ${BYTE_UNITS[i]}`;
}

function rate(bitsPerSecond: number): string {
  let v = bitsPerSecond / KBIT;
  let i = 0;
  while (v >= 1000 && i < RATE_UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(1)} ${RATE_UNITS[i]}`;
}

/** `blocked, 50.0 MB of 50.0 MB used, period ends 2026-12-31T23:00:00Z[, limited to 1.0 Mbit/s down, …]`. */
export function renderQuota(s: QuotaStatus): string {
  const parts =
    s.quota === null
      ? [s.state === 'ok' ? 'none' : s.state]
      : [s.state, `${size(s.used)} of ${size(s.quota)} used`, `period ends ${s.periodEnd}`];
  const limits = [
    ...(s.limitDown === null ? [] : [`${rate(s.limitDown)} down`]),
    ...(s.limitUp === null ? [] : [`${rate(s.limitUp)} up`]),
  ];
  if (limits.length > 0) parts.push(`limited to ${limits.join(', ')}`);
  return parts.join(', ');
}
