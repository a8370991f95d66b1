// A stock WireGuard client's configuration, exported by the gateway
// (`meshgate gateway export-client`): a wg-quick file that works unmodified
// with `wg-quick up`, and with `wg setconf` after `wg-quick strip`.
//
//   [Interface]  PrivateKey, Address = the lease (IPv4 /32, IPv6 /128 or /64),
//                DNS (only when there are servers), MTU
//   [Peer]       the gateway: PublicKey, PresharedKey, AllowedIPs = 0.0.0.0/0, ::/0,
//                Endpoint, PersistentKeepalive
//
// The text holds the client's private key: write it to a 0600 file or show it
// once (QR code), never log it.

import { formatIp } from '../shared/net/address.js';
import { formatKey } from '../shared/wireguard/keys.js';
import { endpointField, FieldError } from '../shared/config/fields.js';
import { CONFIG_LIMITS } from './config.js';

export interface ClientExport {
  /** null: the PrivateKey line is left for the user (commented out): a config for a client who holds its own key. */
  clientPrivateKey: Uint8Array | null;
  lease: { ipv4: Uint8Array; ipv6: Uint8Array; ipv6PrefixLength: number };
  gatewayPublicKey: Uint8Array;
  presharedKey?: Uint8Array;
  /** How the client reaches the gateway: host:port or [IPv6]:port. */
  endpoint: string;
  /** DNS servers, IPv4 or IPv6; no DNS line when empty. */
  dns: Uint8Array[];
  mtu: number;
  /** Seconds; default 25, 0 = off (no line). */
  persistentKeepalive?: number;
}

export const DEFAULT_PERSISTENT_KEEPALIVE = 25;

/** The PrivateKey line of a config exported without the client's key. */
export const PRIVATE_KEY_PLACEHOLDER = "# PrivateKey = <the client's private key>";

/**
 * Renders the wg-quick file of one client. With a prefix lease (IPv6 prefix
 * length below 128) whose address has no host bits, the interface takes the
 * prefix's first host address (the all-zero one is the subnet-router anycast
 * address, RFC 4291 section 2.6.1). Throws RangeError on inconsistent input.
 */
export function renderClientConfig(opts: ClientExport): string {
  const { lease } = opts;
  if (lease.ipv4.length !== 4) throw new RangeError('lease.ipv4 must be 4 bytes');
  if (lease.ipv6.length !== 16) throw new RangeError('lease.ipv6 must be 16 bytes');
  const prefix = lease.ipv6PrefixLength;
  if (!Number.isInteger(prefix) || prefix < 1 || prefix > 128)
    throw new RangeError('lease.ipv6PrefixLength must be 1..128');
  const { mtuMin, mtuMax } = CONFIG_LIMITS;
  if (!Number.isInteger(opts.mtu) || opts.mtu < mtuMin || opts.mtu > mtuMax) {
    throw new RangeError(`mtu must be ${mtuMin}..${mtuMax}`);
  }
  const keepalive = opts.persistentKeepalive ?? DEFAULT_PERSISTENT_KEEPALIVE;
  if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65535) {
    throw new RangeError('persistentKeepalive must be 0..65535');
  }
  let endpoint: string;
  try {
    endpoint = endpointField(opts.endpoint, 'endpoint').text;
  } catch (e) {
    throw new RangeError(e instanceof FieldError ? `endpoint: ${e.problem}` : 'endpoint is not valid');
  }
  for (const d of opts.dns) {
    if (d.length !== 4 && d.length !== 16) throw new RangeError('a DNS server is 4 or 16 bytes');
  }

  const lines = [
    '# WireGuard client configuration exported by a meshgate gateway.',
    ...(opts.clientPrivateKey === null
      ? [
          "# Put the client's own private key on the PrivateKey line and remove the '#'.",
          '[Interface]',
          PRIVATE_KEY_PLACEHOLDER,
        ]
      : [
          '# It holds the private key of this client: keep it secret (mode 0600).',
          '[Interface]',
          `PrivateKey = ${formatKey(opts.clientPrivateKey)}`,
        ]),
    `Address = ${formatIp(lease.ipv4)}/32, ${formatIp(interfaceAddress(lease.ipv6, prefix))}/${prefix}`,
  ];
  if (opts.dns.length > 0) lines.push(`DNS = ${opts.dns.map(formatIp).join(', ')}`);
  lines.push(`MTU = ${opts.mtu}`, '', '[Peer]', `PublicKey = ${formatKey(opts.gatewayPublicKey)}`);
  if (opts.presharedKey !== undefined) lines.push(`PresharedKey = ${formatKey(opts.presharedKey)}`);
  lines.push('AllowedIPs = 0.0.0.0/0, ::/0', `Endpoint = ${endpoint}`);
  if (keepalive > 0) lines.push(`PersistentKeepalive = ${keepalive}`);
  return lines.join('\n') + '\n';
}

/** The address itself, or the first host of its prefix when every host bit is zero. */
function interfaceAddress(address: Uint8Array, prefixLength: number): Uint8Array {
  if (prefixLength >= 128) return address;
  for (let bit = prefixLength; bit < 128; bit++) {
    if ((address[bit >> 3]! & (0x80 >> (bit & 7))) !== 0) return address;
  }
  const out = Uint8Array.from(address);
  out[15] = out[15]! | 1;
  return out;
}
