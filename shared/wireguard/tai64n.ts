// TAI64N timestamps (https://cr.yp.to/libtai/tai64.html), carried encrypted
// in the handshake initiation so that a responder can refuse a replayed one:
// it accepts an initiation only if its timestamp is after the last accepted
// one from that peer (WireGuard paper sections 5.1 and 5.4.2; drop
// 'replayed-initiation').
//
// 12 bytes, big-endian: an 8-byte TAI64 label (2^62 + 10 + Unix seconds: the
// label of 1970-01-01 00:00:10 TAI, which is how wireguard-go and the Linux
// module count, ignoring leap seconds since), then 4 bytes of nanoseconds.
//
// The nanoseconds are rounded down to a multiple of 2^24 ns (about 16.8 ms),
// as wireguard-go does, so that the timestamp does not reveal the sender's
// clock (and thus its timing) more precisely than that. Pure: the wall clock
// is passed in.

export const TAI64N_LEN = 12;

const TAI64_BASE_HIGH = 0x4000_0000; // 2^62 as the high 32 bits of the label
const TAI64_UNIX_OFFSET = 10; // seconds: the label of the Unix epoch is 2^62 + 10
const WHITENER_MASK = 0x100_0000 - 1; // 2^24 - 1 ns
const TWO_32 = 0x1_0000_0000;

/** The TAI64N timestamp of a wall-clock time in Unix milliseconds (e.g. Date.now()). */
export function tai64n(wallClockMs: number): Uint8Array {
  if (!Number.isFinite(wallClockMs)) throw new RangeError('wall clock time must be a finite number of milliseconds');
  const seconds = Math.floor(wallClockMs / 1000);
  const nanos = Math.floor((wallClockMs - seconds * 1000) * 1_000_000);
  const whitened = nanos - (nanos & WHITENER_MASK);
  // The label does not fit in a double exactly (2^62), so write it as two words.
  const label = seconds + TAI64_UNIX_OFFSET;
  const high = Math.floor(label / TWO_32);
  const out = new Uint8Array(TAI64N_LEN);
  const view = new DataView(out.buffer);
  view.setUint32(0, TAI64_BASE_HIGH + high);
  view.setUint32(4, label - high * TWO_32);
  view.setUint32(8, whitened);
  return out;
}

/** Orders two timestamps: negative if a is earlier, 0 if equal, positive if a is later. */
export function compareTai64n(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== TAI64N_LEN || b.length !== TAI64N_LEN) {
    throw new RangeError(`a TAI64N timestamp is ${TAI64N_LEN} bytes`);
  }
  // Big-endian, so byte order is time order.
  for (let i = 0; i < TAI64N_LEN; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return 0;
}

/** True if timestamp a is strictly later than b. */
export function isAfter(a: Uint8Array, b: Uint8Array): boolean {
  return compareTai64n(a, b) > 0;
}
