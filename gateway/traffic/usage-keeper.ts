// Keeps the clients' usage safe and their agents told, once a second and at
// shutdown:
//
//   each client: period over? → its finished row (history) and fresh counters
//                counters changed since the last save? → its row
//   all rows → store.saveUsage, one transaction (absolute values: saving the
//              same row twice never charges twice)
//   state changed (ok/throttled/blocked), or not ok for a minute → tell()
//
// A SIGKILL loses at most the second since the last checkpoint.

import { kbpsOf, type QuotaInfo } from '../../shared/lease/message.js';
import type { ShapedClient, TrafficControl } from './traffic.js';
import type { UsageRow } from './usage.js';

/** How often usage is written to the state database. */
export const CHECKPOINT_INTERVAL_MS = 1_000;
/** How often a client that is throttled or blocked is reminded. */
export const REMIND_INTERVAL_MS = 60_000;

export interface UsageSink {
  saveUsage(rows: UsageRow[]): void;
}

export class UsageKeeper {
  private readonly saved = new Map<ShapedClient, number>();
  private readonly toldAt = new Map<ShapedClient, number>();

  constructor(
    private readonly traffic: TrafficControl,
    private readonly store: UsageSink,
    /** Told when a client's quota state changed, or it is still not ok a minute after it was last told. */
    private readonly tell: (client: ShapedClient) => void,
  ) {}

  /** One checkpoint at wall-clock `wallMs`; returns how many rows were written. */
  checkpoint(wallMs: number): number {
    const rows: UsageRow[] = [];
    const changed: ShapedClient[] = [];
    for (const c of this.traffic.clients()) {
      const u = c.usage;
      const finished = u.rollover(wallMs);
      if (finished !== null) rows.push(finished);
      const packets = u.downPackets + u.upPackets;
      if (finished !== null || this.saved.get(c) !== packets) {
        rows.push(u.row(wallMs));
        this.saved.set(c, packets);
      }
      if (u.stateChanged) {
        u.stateChanged = false;
        changed.push(c);
      } else if (u.state !== 'ok' && wallMs - (this.toldAt.get(c) ?? 0) >= REMIND_INTERVAL_MS) {
        changed.push(c);
      }
    }
    if (rows.length > 0) this.store.saveUsage(rows);
    for (const c of changed) {
      this.toldAt.set(c, wallMs);
      this.tell(c);
    }
    return rows.length;
  }
}

/** What the lease protocol tells a client of its quota (option QUOTA). */
export function quotaInfoOf(c: ShapedClient): QuotaInfo {
  const u = c.usage;
  const quota = c.policy.quota;
  const throttled = u.state === 'throttled' ? (quota?.throttle ?? null) : null;
  return {
    state: u.state,
    count: quota === null ? 'none' : quota.count,
    used: u.used,
    quota: quota?.bytes ?? 0,
    periodEnd: Math.floor(u.periodEnd / 1000),
    limitDownKbps: kbpsOf((throttled ?? c.policy.down)?.bitsPerSecond ?? null),
    limitUpKbps: kbpsOf((throttled ?? c.policy.up)?.bitsPerSecond ?? null),
  };
}
