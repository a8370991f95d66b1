// What the core reads of a decrypted inner IP packet besides its addresses
// (allowed-ips.ts): its length without padding, and whether its source is one
// no peer can be allowed (IPv6 link-local or unspecified).

import { IPV4_HEADER_MIN_LEN, IPV6_HEADER_LEN, IPV6_SRC_OFFSET } from './allowed-ips.js';

/** Length of the IPv4/IPv6 packet at the start of `p` (padding excluded), or -1 if malformed. */
export function ipPacketLength(p: Uint8Array): number {
  if (p.length < 1) return -1;
  const version = p[0]! >> 4;
  if (version === 4) {
    if (p.length < IPV4_HEADER_MIN_LEN) return -1;
    const total = (p[2]! << 8) | p[3]!;
    return total >= IPV4_HEADER_MIN_LEN && total <= p.length ? total : -1;
  }
  if (version === 6) {
    if (p.length < IPV6_HEADER_LEN) return -1;
    const total = IPV6_HEADER_LEN + ((p[4]! << 8) | p[5]!);
    return total <= p.length ? total : -1;
  }
  return -1;
}

/** IPv6 with a link-local (fe80::/10) or unspecified (::) source: never routable, not spoofing either. */
export function isLinkLocalSource(p: Uint8Array): boolean {
  if (p[0]! >> 4 !== 6) return false;
  const a = IPV6_SRC_OFFSET;
  if (p[a] === 0xfe && (p[a + 1]! & 0xc0) === 0x80) return true;
  for (let i = 0; i < 16; i++) if (p[a + i] !== 0) return false;
  return true;
}
