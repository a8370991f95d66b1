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
} as const;

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
  | { type: typeof LeaseType.Lease; requestId: number; grant: LeaseGrant }
  | { type: typeof LeaseType.Refused; requestId: number; error: LeaseErrorCode };

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
  } else if (m.type === LeaseType.Refused) {
    w.option(LeaseOption.Error, Uint8Array.of(m.error));
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
      default:
        break; // unknown options are skipped
    }
  }
  switch (type) {
    case LeaseType.Request:
    case LeaseType.Release:
      return { type, requestId };
    case LeaseType.Lease:
      if (grant.lifetime < 0 || (grant.ipv4 === null && grant.ipv6 === null)) return null;
      return { type, requestId, grant };
    case LeaseType.Refused:
      if (error !== LeaseError.PoolExhausted && error !== LeaseError.ClientDisabled && error !== LeaseError.Internal)
        return null;
      return { type, requestId, error };
    default:
      return null;
  }
}
