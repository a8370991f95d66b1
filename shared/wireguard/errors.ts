// The closed list of reasons a packet is dropped by the protocol core.
//
// Every malformed, unauthenticated, stale or unroutable packet ends as one of
// these codes: counted per code (and per peer where one is known), never as an
// exception. Metric labels are drawn from this list only, so it stays bounded.

export const DropReasons = [
  // any message from the network
  'too-short', // shorter than the smallest valid message
  'unknown-type', // first byte not 1..4, or reserved bytes not zero
  'bad-length', // a handshake or cookie message of the wrong size
  // handshake initiation / response
  'mac1-invalid', // MAC1 does not match our public key: not meant for us
  'mac2-invalid', // under load, and MAC2 is missing or wrong: a cookie reply is sent
  'rate-limited', // under load, too many handshakes from one source address
  'handshake-invalid', // decryption or DH failed: wrong keys or a forged message
  'unknown-peer', // an initiation from a static key that is not configured
  'replayed-initiation', // TAI64N timestamp not newer than the last accepted one
  'initiation-too-soon', // initiations from one peer faster than allowed
  'unknown-index', // receiver index matches no handshake or keypair
  'unexpected-response', // a response for a handshake that is no longer waiting
  'cookie-invalid', // a cookie reply that does not decrypt
  // transport data
  'decrypt-failed', // authentication tag wrong
  'replayed-counter', // counter already seen or too old for the window
  'keypair-expired', // keypair older than Reject-After-Time or past its message limit
  'invalid-packet', // decrypted payload is not a well-formed IPv4/IPv6 packet
  'source-not-allowed', // inner source address not in the sending peer's allowed IPs
  'link-local', // inner source is IPv6 link-local or unspecified (a peer kernel's router solicitations and such)
  // outbound (from the TUN)
  'no-route', // destination is in no peer's allowed IPs
  'no-endpoint', // the peer's endpoint is unknown: it has to contact us first
  'queue-full', // too many packets waiting for a handshake
  'too-large', // packet larger than the tunnel can carry
] as const;

export type DropReason = (typeof DropReasons)[number];

/** Counts per drop reason; a plain record so it serialises as it is. */
export type DropCounts = Record<DropReason, number>;

export function newDropCounts(): DropCounts {
  const counts = {} as DropCounts;
  for (const reason of DropReasons) counts[reason] = 0;
  return counts;
}
