// The `admin` section of gateway.yaml (docs/admin-api.md): where the admin
// API, the web page and /metrics listen besides the Unix socket.
//
//   admin:
//     listen: ["127.0.0.1:9580", "[::1]:9580"]   # TCP listeners; default none
//     metricsPublic: false                       # /metrics on TCP without a token
//
// A listener is an IP literal and a port (no names: what is bound must be
// known at load), never inside a tunnel pool: the API is never reachable from
// inside a tunnel.

import { Type, type Static } from '@sinclair/typebox';
import { FieldError } from '../../shared/config/config-error.js';
import { endpointField, show } from '../../shared/config/fields.js';
import { containsAddress, formatCidr, type Cidr } from '../../shared/net/address.js';

const MAX_LISTEN = 8;

export const ADMIN_FIELDS = {
  admin: Type.Optional(
    Type.Object(
      {
        listen: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: MAX_LISTEN })),
        metricsPublic: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
  ),
};
type RawAdmin = Static<(typeof ADMIN_FIELDS)['admin']>;

export interface AdminConfig {
  /** TCP listeners, `host:port` or `[v6]:port` as written. */
  listen: string[];
  metricsPublic: boolean;
}

/** Checks the admin section against the tunnel pools (`ipv6Area`: where the IPv6 pool lies or will). */
export function normalizeAdmin(raw: RawAdmin | undefined, pools: { field: string; cidr: Cidr }[]): AdminConfig {
  const seen = new Map<string, number>();
  const listen = (raw?.listen ?? []).map((text, i) => {
    const field = `admin.listen[${i}]`;
    const ep = endpointField(text, field);
    if (ep.address === null)
      throw new FieldError(field, 'invalid', `${show(text)}: listen on an IP address, not a name`);
    for (const pool of pools) {
      if (containsAddress(pool.cidr, ep.address)) {
        throw new FieldError(
          field,
          'conflict',
          `${ep.text} lies inside ${pool.field} ${formatCidr(pool.cidr)}: the admin API is never reachable from a tunnel`,
        );
      }
    }
    const first = seen.get(ep.text);
    if (first !== undefined) throw new FieldError(field, 'duplicate', `${ep.text} is admin.listen[${first}] too`);
    seen.set(ep.text, i);
    return ep.text;
  });
  return { listen, metricsPublic: raw?.metricsPublic ?? false };
}
