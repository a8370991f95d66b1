// Messages of the in-band lease protocol, version 1 (docs/lease-protocol.md):
// one header (version, type, length, request id) and TLV options. encode and
// decode are exact inverses; decode never throws: it returns null for
// anything malformed, which the caller counts.

export const LEASE_VERSION = 1;
export const LEASE_HEADER_SIZE = 8;
export const LEASE_MAX_SIZE = 512;

export const LeaseType = {
  Request: 1,
  Lease: 2,
  Refused: 3,
  Release: 4,
  /** Gateway → client, unsolicited (request id 0): the client's quota state. */
  Status: 5,
  /** Client → gateway: are you there, and is your uplink up? (failover health probe) */
  Probe: 6,
  /** Gateway → client: the answer to a PROBE (same request id), with option UPLINK. */
  Health: 7,
} as const;
export type LeaseType = (typeof LeaseType)[keyof typeof LeaseType];

export const LeaseOption = {
  Ipv4: 1,
  Ipv6: 2,
  GatewayIpv4: 3,
  GatewayIpv6: 4,
  Dns: 5,
  Mtu: 6,
  Lifetime: 7,
  Error: 8,
  Quota: 9,
  Uplink: 10,
} as const;

/** Option UPLINK, 1 byte: whether the gateway's uplink works now (docs/lease-protocol.md). */
export const UplinkState = { Down: 0, Up: 1 } as const;

// Option QUOTA, value exactly QUOTA_SIZE bytes, big-endian:
//   state u8 | count u8 | used u64 | quota u64 | period end u32 | limit down u32 | limit up u32
export const QUOTA_STATE_OFFSET = 0;
export const QUOTA_COUNT_OFFSET = 1;
export const QUOTA_USED_OFFSET = 2;
export const QUOTA_BYTES_OFFSET = 10;
export const QUOTA_PERIOD_END_OFFSET = 18;
export const QUOTA_LIMIT_DOWN_OFFSET = 22;
export const QUOTA_LIMIT_UP_OFFSET = 26;
export const QUOTA_SIZE = 30;

/** Wire codes of QuotaInfo.state and QuotaInfo.count (index = code). */
const QUOTA_STATES = ['ok', 'throttled', 'blocked'] as const;
const QUOTA_COUNTS = ['none', 'download', 'upload', 'both'] as const;
export type QuotaInfoState = (typeof QUOTA_STATES)[number];
export type QuotaInfoCount = (typeof QUOTA_COUNTS)[number];

/** A client's quota state as the gateway tells it (option QUOTA); every number a non-negative integer (encode throws a RangeError otherwise). */
export interface QuotaInfo {
  state: QuotaInfoState;
  /** What the quota counts; 'none' when the client has no quota. */
  count: QuotaInfoCount;
  /** Bytes counted toward the quota this period. */
  used: number;
  /** Bytes; 0 when there is no quota. */
  quota: number;
  /** Unix seconds: the end of the current accounting period. */
  periodEnd: number;
  /** Rates in force now (the throttle when throttled), kbit/s; 0 = no limit. */
  limitDownKbps: number;
  limitUpKbps: number;
}

/** A rate in bits per second (null: none) as the kbit/s of QUOTA (0: none; at least 1 when limited). */
export function kbpsOf(bitsPerSecond: number | null): number {
  if (bitsPerSecond === null) return 0;
  return Math.min(0xffffffff, Math.max(1, Math.round(bitsPerSecond / 1000)));
}

export const LeaseError = {
  PoolExhausted: 1,
  ClientDisabled: 2,
  Internal: 3,
} as const;
export type LeaseErrorCode = (typeof LeaseError)[keyof typeof LeaseError];

/** What a LEASE message grants. */
export interface LeaseGrant {
  ipv4: { address: Uint8Array; prefixLength: number } | null;
  ipv6: { address: Uint8Array; prefixLength: number } | null;
  gatewayIpv4: Uint8Array | null;
  gatewayIpv6: Uint8Array | null;
  dns: Uint8Array[];
  mtu: number | null;
  /** Seconds from the moment of sending. */
  lifetime: number;
}

export type LeaseMessage =
  | { type: typeof LeaseType.Request; requestId: number }
  | { type: typeof LeaseType.Release; requestId: number }
  | { type: typeof LeaseType.Lease; requestId: number; grant: LeaseGrant; quota?: QuotaInfo }
  | { type: typeof LeaseType.Refused; requestId: number; error: LeaseErrorCode }
  | { type: typeof LeaseType.Status; requestId: number; quota: QuotaInfo }
  | { type: typeof LeaseType.Probe; requestId: number }
  | { type: typeof LeaseType.Health; requestId: number; uplinkUp: boolean };

class Writer {
  private readonly buf = new Uint8Array(LEASE_MAX_SIZE);
  length = LEASE_HEADER_SIZE;
  option(type: number, value: Uint8Array): void {
    if (this.length + 2 + value.length > LEASE_MAX_SIZE) throw new RangeError('lease message too large');
    this.buf[this.length] = type;
    this.buf[this.length + 1] = value.length;
    this.buf.set(value, this.length + 2);
    this.length += 2 + value.length;
  }
  finish(type: LeaseType, requestId: number): Uint8Array {
    const b = this.buf;
    b[0] = LEASE_VERSION;
    b[1] = type;
    b[2] = this.length >> 8;
    b[3] = this.length & 0xff;
    new DataView(b.buffer).setUint32(4, requestId >>> 0);
    return b.slice(0, this.length);
  }
}

function withPrefix(address: Uint8Array, prefixLength: number): Uint8Array {
  const v = new Uint8Array(address.length + 1);
  v.set(address);
  v[address.length] = prefixLength;
  return v;
}

function u16(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}

function u32(n: number): Uint8Array {
  const v = new Uint8Array(4);
  new DataView(v.buffer).setUint32(0, n >>> 0);
  return v;
}

function checkUint(name: string, n: number, max: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new RangeError(`QUOTA ${name} out of range: ${n}`);
}

/** The QUOTA value; a RangeError for a field that does not fit its wire size. */
function encodeQuota(q: QuotaInfo): Uint8Array {
  checkUint('used', q.used, Number.MAX_SAFE_INTEGER);
  checkUint('quota', q.quota, Number.MAX_SAFE_INTEGER);
  checkUint('periodEnd', q.periodEnd, 0xffffffff);
  checkUint('limitDownKbps', q.limitDownKbps, 0xffffffff);
  checkUint('limitUpKbps', q.limitUpKbps, 0xffffffff);
  const v = new Uint8Array(QUOTA_SIZE);
  const view = new DataView(v.buffer);
  v[QUOTA_STATE_OFFSET] = QUOTA_STATES.indexOf(q.state);
  v[QUOTA_COUNT_OFFSET] = QUOTA_COUNTS.indexOf(q.count);
  view.setBigUint64(QUOTA_USED_OFFSET, BigInt(q.used));
  view.setBigUint64(QUOTA_BYTES_OFFSET, BigInt(q.quota));
  view.setUint32(QUOTA_PERIOD_END_OFFSET, q.periodEnd);
  view.setUint32(QUOTA_LIMIT_DOWN_OFFSET, q.limitDownKbps);
  view.setUint32(QUOTA_LIMIT_UP_OFFSET, q.limitUpKbps);
  return v;
}

/** The QUOTA value, or null: wrong length, unknown state or count, a byte count past 2^53 - 1. */
function decodeQuota(v: Uint8Array): QuotaInfo | null {
  if (v.length !== QUOTA_SIZE) return null;
  const state = QUOTA_STATES[v[QUOTA_STATE_OFFSET]!];
  const count = QUOTA_COUNTS[v[QUOTA_COUNT_OFFSET]!];
  const view = new DataView(v.buffer, v.byteOffset, v.length);
  const used = view.getBigUint64(QUOTA_USED_OFFSET);
  const quota = view.getBigUint64(QUOTA_BYTES_OFFSET);
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  if (state === undefined || count === undefined || used > max || quota > max) return null;
  return {
    state,
    count,
    used: Number(used),
    quota: Number(quota),
    periodEnd: view.getUint32(QUOTA_PERIOD_END_OFFSET),
    limitDownKbps: view.getUint32(QUOTA_LIMIT_DOWN_OFFSET),
    limitUpKbps: view.getUint32(QUOTA_LIMIT_UP_OFFSET),
  };
}

export function encodeLeaseMessage(m: LeaseMessage): Uint8Array {
  const w = new Writer();
  if (m.type === LeaseType.Lease) {
    const g = m.grant;
    if (g.ipv4) w.option(LeaseOption.Ipv4, withPrefix(g.ipv4.address, g.ipv4.prefixLength));
    if (g.ipv6) w.option(LeaseOption.Ipv6, withPrefix(g.ipv6.address, g.ipv6.prefixLength));
    if (g.gatewayIpv4) w.option(LeaseOption.GatewayIpv4, g.gatewayIpv4);
    if (g.gatewayIpv6) w.option(LeaseOption.GatewayIpv6, g.gatewayIpv6);
    for (const d of g.dns) w.option(LeaseOption.Dns, d);
    if (g.mtu !== null) w.option(LeaseOption.Mtu, u16(g.mtu));
    w.option(LeaseOption.Lifetime, u32(g.lifetime));
    if (m.quota !== undefined) w.option(LeaseOption.Quota, encodeQuota(m.quota));
  } else if (m.type === LeaseType.Status) {
    w.option(LeaseOption.Quota, encodeQuota(m.quota));
  } else if (m.type === LeaseType.Refused) {
    w.option(LeaseOption.Error, Uint8Array.of(m.error));
  } else if (m.type === LeaseType.Health) {
    w.option(LeaseOption.Uplink, Uint8Array.of(m.uplinkUp ? UplinkState.Up : UplinkState.Down));
  }
  return w.finish(m.type, m.requestId);
}

/** Decodes one message; null when it is malformed in any way. */
export function decodeLeaseMessage(data: Uint8Array): LeaseMessage | null {
  if (data.length < LEASE_HEADER_SIZE || data.length > LEASE_MAX_SIZE) return null;
  if (data[0] !== LEASE_VERSION) return null;
  const type = data[1]!;
  const length = (data[2]! << 8) | data[3]!;
  if (length !== data.length) return null;
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  const requestId = view.getUint32(4);
  const grant: LeaseGrant = {
    ipv4: null,
    ipv6: null,
    gatewayIpv4: null,
    gatewayIpv6: null,
    dns: [],
    mtu: null,
    lifetime: -1,
  };
  let error = -1;
  let quota: QuotaInfo | null = null;
  let uplink = -1;
  for (let off = LEASE_HEADER_SIZE; off < data.length;) {
    if (off + 2 > data.length) return null;
    const t = data[off]!;
    const len = data[off + 1]!;
    const v = data.subarray(off + 2, off + 2 + len);
    if (v.length !== len) return null;
    off += 2 + len;
    switch (t) {
      case LeaseOption.Ipv4:
        if (len !== 5 || v[4]! > 32) return null;
        grant.ipv4 = { address: v.slice(0, 4), prefixLength: v[4]! };
        break;
      case LeaseOption.Ipv6:
        if (len !== 17 || v[16]! > 128) return null;
        grant.ipv6 = { address: v.slice(0, 16), prefixLength: v[16]! };
        break;
      case LeaseOption.GatewayIpv4:
        if (len !== 4) return null;
        grant.gatewayIpv4 = v.slice();
        break;
      case LeaseOption.GatewayIpv6:
        if (len !== 16) return null;
        grant.gatewayIpv6 = v.slice();
        break;
      case LeaseOption.Dns:
        if (len !== 4 && len !== 16) return null;
        grant.dns.push(v.slice());
        break;
      case LeaseOption.Mtu:
        if (len !== 2) return null;
        grant.mtu = (v[0]! << 8) | v[1]!;
        break;
      case LeaseOption.Lifetime:
        if (len !== 4) return null;
        grant.lifetime = new DataView(v.buffer, v.byteOffset, 4).getUint32(0);
        break;
      case LeaseOption.Error:
        if (len !== 1) return null;
        error = v[0]!;
        break;
      case LeaseOption.Quota:
        quota = decodeQuota(v);
        if (quota === null) return null;
        break;
      case LeaseOption.Uplink:
        if (len !== 1 || (v[0] !== UplinkState.Down && v[0] !== UplinkState.Up)) return null;
        uplink = v[0]!;
        break;
      default:
        break; // unknown options are skipped
    }
  }
  switch (type) {
    case LeaseType.Request:
    case LeaseType.Release:
    case LeaseType.Probe:
      return { type, requestId };
    case LeaseType.Lease:
      if (grant.lifetime < 0 || (grant.ipv4 === null && grant.ipv6 === null)) return null;
      return quota === null ? { type, requestId, grant } : { type, requestId, grant, quota };
    case LeaseType.Refused:
      if (error !== LeaseError.PoolExhausted && error !== LeaseError.ClientDisabled && error !== LeaseError.Internal)
        return null;
      return { type, requestId, error };
    case LeaseType.Status:
      return quota === null ? null : { type, requestId, quota };
    case LeaseType.Health:
      return uplink < 0 ? null : { type, requestId, uplinkUp: uplink === UplinkState.Up };
    default:
      return null;
  }
}
