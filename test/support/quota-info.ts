// A QUOTA value (shared/lease/message.ts) for unit tests: by default a
// client blocked at its 50 MB quota, counting both directions; a test
// overrides the fields it is about.

import type { QuotaInfo } from '../../shared/lease/message.js';

export function quotaInfo(fields: Partial<QuotaInfo> = {}): QuotaInfo {
  return {
    state: 'blocked',
    count: 'both',
    used: 50_000_000,
    quota: 50_000_000,
    periodEnd: 1_798_758_000,
    limitDownKbps: 0,
    limitUpKbps: 0,
    ...fields,
  };
}
