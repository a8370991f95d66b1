// The gateway's configuration file (docs/gateway-config.md): read, checked and
// normalized before anything on the host changes.
//
//   file -> YAML (syntax) -> TypeBox schema (types, ranges, unknown fields)   shared/config/yaml.ts
//        -> semantic checks (addresses, pools, keys, uniqueness)              here, config-clients.ts
//           (traffic policies: sizes, rates, periods, references)             traffic/policy.ts
//        -> GatewayConfig
//   GatewayConfig + CommandRunner -> checkHost (read-only `ip -j` queries)    host-check.ts
//
// Every problem is one ConfigError whose message is one line,
// "<file>: <field path>: <what is wrong>", e.g.
// "gateway.yaml: clients[1].publicKey: not a WireGuard key (…)". A secret (a
// private or preshared key, or anything that looks like a key) never appears in
// a message: key values are never echoed, only the files that hold them.
//
// The field validators are shared/config/fields.ts, shared with the client
// agent's loader; key files are shared/config/key-file.ts.

import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { CONFIG_ERROR_CODES, ConfigError, FieldError, type ConfigErrorCode } from '../shared/config/config-error.js';
import {
  endpointField,
  interfaceName,
  ipLiteral,
  listenAddressField,
  refuseSpecial,
  show,
  strictPrefix,
  uniqueList,
} from '../shared/config/fields.js';
import { readKeyFile, wipeIfThrows, type OwnKeyConfig } from '../shared/config/key-file.js';
import { loadYamlConfig, parseYamlConfig } from '../shared/config/yaml.js';
import {
  containsAddress,
  equalBytes,
  firstHost,
  formatCidr,
  formatIp,
  overlaps,
  type Cidr,
} from '../shared/net/address.js';
import { ULA } from '../shared/net/special-ranges.js';
import { preparePrivateKey, publicKeyOf } from '../shared/wireguard/crypto.js';
import { ADMIN_FIELDS, normalizeAdmin, type AdminConfig } from './admin/admin-config.js';
import { normalizeClient } from './config-clients.js';
import {
  CLIENT_TRAFFIC_FIELDS,
  normalizeTraffic,
  TRAFFIC_FIELDS,
  type TrafficPolicy,
  type UplinkCapacity,
} from './traffic/policy.js';
import type { UplinkCheck, UplinkCheckTarget } from './uplink-watch.js';

export { CONFIG_ERROR_CODES, ConfigError, FieldError, type ConfigErrorCode };
export { readClientPrivateKey } from './config-clients.js';
export { checkHost } from './host-check.js';

// ---------------------------------------------------------------------------
// The normalized configuration

export type Ipv6Mode = 'nat66' | 'routed';

export interface GatewayClient {
  name: string;
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  presharedKeyFile: string | null;
  /**
   * Only for stock clients whose key the admin made: the file export-client
   * reads the key from, on demand (readClientPrivateKey). The loader only
   * checks the file (regular, ours, 0600); the key itself is never kept in a
   * GatewayConfig, so the daemon holds no client's private key.
   */
  privateKeyFile: string | null;
  /** Fixed IPv4 address, or null (the gateway leases one). */
  ipv4: Uint8Array | null;
  /** Fixed IPv6 address (leasePrefixLength 128) or /64 prefix start (64), or null. */
  ipv6: Uint8Array | null;
  /** Its traffic policy (its `policy`, else defaultPolicy): one of GatewayConfig.policies, or UNLIMITED. */
  policy: TrafficPolicy;
}

/**
 * The gateway's configuration with every default filled in. Holds the
 * gateway's private key and clients' preshared keys (never a client's private
 * key): never log this object whole.
 */
export interface GatewayConfig extends OwnKeyConfig {
  listenPort: number;
  /** Address literals to listen on (a link-local IPv6 one may end in %zone); empty: every address. */
  listenAddresses: string[];
  /** How clients reach this gateway, as written into exported configs (host:port, [IPv6]:port), or null when not set. */
  endpoint: string | null;
  uplink: string;
  interface: string;
  mtu: number;
  ipv4Pool: Cidr;
  /** The gateway's tunnel address: the pool's first host address. */
  ipv4Gateway: Uint8Array;
  ipv6: {
    mode: Ipv6Mode;
    /** null in nat66 mode when not configured: the daemon generates a ULA /48 and keeps it in stateDir. */
    pool: Cidr | null;
    leasePrefixLength: 64 | 128;
  };
  dns: Uint8Array[];
  leaseLifetime: number;
  stateDir: string;
  allowPrivate: Cidr[];
  /** The uplink's capacity per direction (bit/s) shared fairly among clients; null: that direction is not scheduled. */
  uplinkCapacity: UplinkCapacity;
  /** The configured policies, in file order (without UNLIMITED). */
  policies: TrafficPolicy[];
  /** Where the admin API listens besides its Unix socket (gateway/admin/admin-config.ts). */
  admin: AdminConfig;
  /** The active uplink check (TCP connects to these targets), or null: carrier and default route only. */
  uplinkCheck: UplinkCheck | null;
  /** The policy of clients without their own: a policy's name or "unlimited". */
  defaultPolicy: string;
  /** The host's IANA zone: the accounting period of clients without a quota, the default timeZone of quotas. */
  accountingZone: string;
  clients: GatewayClient[];
}

export const GATEWAY_DEFAULTS = {
  listenPort: 51820,
  interface: 'mg0',
  mtu: 1420,
  ipv4Pool: '100.64.0.0/16',
  ipv6Mode: 'nat66' as Ipv6Mode,
  leasePrefixLength: 128 as 64 | 128,
  leaseLifetime: 3600,
  stateDir: '/var/lib/meshgate',
} as const;

/** Limits of the format (docs/gateway-config.md). */
export const CONFIG_LIMITS = {
  /** IPv6 always runs through the tunnel (RFC 8200 section 5). */
  mtuMin: 1280,
  mtuMax: 9000,
  /** Seconds. */
  leaseLifetimeMin: 60,
  leaseLifetimeMax: 604_800,
  /** Pool prefix lengths: the shortest of both families, the longest by family (IPv6: by leasePrefixLength). */
  poolPrefixShortest: 8,
  ipv4PoolPrefixLongest: 30,
  ipv6PoolPrefixLongest: { 128: 126, 64: 63 },
  /** Items of listenAddresses and allowPrivate. */
  listMax: 64,
  dnsMax: 8,
  clientsMax: 65_536,
  /** uplinkCheck: targets, and seconds between rounds. */
  uplinkCheckTargetsMax: 8,
  uplinkCheckIntervalMin: 1,
  uplinkCheckIntervalMax: 300,
} as const;

/** Seconds between rounds of uplinkCheck when not set. */
export const UPLINK_CHECK_INTERVAL_DEFAULT = 5;

// ---------------------------------------------------------------------------
// Schema (structure, types, ranges; text formats are checked afterwards)

const Text = Type.String({ minLength: 1 });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });

const ClientSchema = Type.Object(
  {
    name: Text,
    publicKey: Text,
    presharedKeyFile: Type.Optional(Text),
    privateKeyFile: Type.Optional(Text),
    ipv4: Type.Optional(Text),
    ipv6: Type.Optional(Text),
    ...CLIENT_TRAFFIC_FIELDS,
  },
  { additionalProperties: false },
);

const GatewaySchema = Type.Object(
  {
    privateKeyFile: Text,
    listenPort: Type.Optional(Port),
    listenAddresses: Type.Optional(Type.Array(Text, { maxItems: CONFIG_LIMITS.listMax })),
    endpoint: Type.Optional(Text),
    uplink: Text,
    interface: Type.Optional(Text),
    mtu: Type.Optional(Type.Integer({ minimum: CONFIG_LIMITS.mtuMin, maximum: CONFIG_LIMITS.mtuMax })),
    ipv4Pool: Type.Optional(Text),
    ipv6: Type.Optional(
      Type.Object(
        {
          mode: Type.Optional(Type.Union([Type.Literal('nat66'), Type.Literal('routed')])),
          pool: Type.Optional(Text),
          leasePrefixLength: Type.Optional(Type.Union([Type.Literal(128), Type.Literal(64)])),
        },
        { additionalProperties: false },
      ),
    ),
    dns: Type.Optional(Type.Array(Text, { maxItems: CONFIG_LIMITS.dnsMax })),
    leaseLifetime: Type.Optional(
      Type.Integer({ minimum: CONFIG_LIMITS.leaseLifetimeMin, maximum: CONFIG_LIMITS.leaseLifetimeMax }),
    ),
    stateDir: Type.Optional(Text),
    allowPrivate: Type.Optional(Type.Array(Text, { maxItems: CONFIG_LIMITS.listMax })),
    ...TRAFFIC_FIELDS,
    ...ADMIN_FIELDS,
    uplinkCheck: Type.Optional(
      Type.Object(
        {
          targets: Type.Array(Text, { minItems: 1, maxItems: CONFIG_LIMITS.uplinkCheckTargetsMax }),
          interval: Type.Optional(
            Type.Integer({
              minimum: CONFIG_LIMITS.uplinkCheckIntervalMin,
              maximum: CONFIG_LIMITS.uplinkCheckIntervalMax,
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    clients: Type.Optional(Type.Array(ClientSchema, { maxItems: CONFIG_LIMITS.clientsMax })),
  },
  { additionalProperties: false },
);
type RawGateway = Static<typeof GatewaySchema>;
export type RawGatewayClient = Static<typeof ClientSchema>;

// ---------------------------------------------------------------------------
// Loading

/** Reads, checks and normalizes a gateway configuration file (relative paths in it are against its folder). Throws ConfigError. */
export const loadGatewayConfig = (file: string): GatewayConfig => loadYamlConfig(file, GatewaySchema, normalizeGateway);

/** The same for the text of a gateway configuration; `file` names it in messages. */
export const parseGatewayConfig = (text: string, file: string): GatewayConfig =>
  parseYamlConfig(text, file, GatewaySchema, normalizeGateway);

function normalizeGateway(raw: RawGateway, file: string): GatewayConfig {
  const base = dirname(file);

  const uplink = interfaceName(raw.uplink, 'uplink');
  const iface = interfaceName(raw.interface ?? GATEWAY_DEFAULTS.interface, 'interface');
  if (iface === uplink) throw new FieldError('interface', 'conflict', `${show(iface)} is also the uplink`);

  const ipv4Pool = strictPrefix(raw.ipv4Pool ?? GATEWAY_DEFAULTS.ipv4Pool, 'ipv4Pool', {
    family: 4,
    requireLength: true,
  });
  const { poolPrefixShortest: shortest, ipv4PoolPrefixLongest } = CONFIG_LIMITS;
  if (ipv4Pool.prefixLength < shortest || ipv4Pool.prefixLength > ipv4PoolPrefixLongest) {
    throw new FieldError(
      'ipv4Pool',
      'range',
      `prefix length must be /${shortest} to /${ipv4PoolPrefixLongest}, got /${ipv4Pool.prefixLength}`,
    );
  }
  refuseSpecial(ipv4Pool, 'ipv4Pool', 'a tunnel pool');

  const mode = raw.ipv6?.mode ?? GATEWAY_DEFAULTS.ipv6Mode;
  const leasePrefixLength = raw.ipv6?.leasePrefixLength ?? GATEWAY_DEFAULTS.leasePrefixLength;
  let ipv6Pool: Cidr | null = null;
  if (raw.ipv6?.pool !== undefined) {
    ipv6Pool = strictPrefix(raw.ipv6.pool, 'ipv6.pool', { family: 6, requireLength: true });
    const longest = CONFIG_LIMITS.ipv6PoolPrefixLongest[leasePrefixLength];
    if (ipv6Pool.prefixLength < shortest || ipv6Pool.prefixLength > longest) {
      throw new FieldError(
        'ipv6.pool',
        'range',
        `prefix length must be /${shortest} to /${longest} with leasePrefixLength ${leasePrefixLength}, got /${ipv6Pool.prefixLength}`,
      );
    }
    if (mode === 'nat66' && !(ipv6Pool.prefixLength >= ULA.prefixLength && containsAddress(ULA, ipv6Pool.address))) {
      throw new FieldError(
        'ipv6.pool',
        'invalid',
        `${formatCidr(ipv6Pool)} is not a unique local prefix inside ${formatCidr(ULA)} (RFC 4193), which nat66 needs; use mode: routed for a prefix routed to this gateway`,
      );
    }
    refuseSpecial(ipv6Pool, 'ipv6.pool', 'a tunnel pool');
  } else if (mode === 'routed') {
    throw new FieldError(
      'ipv6.pool',
      'missing',
      'required when ipv6.mode is routed (the prefix routed to this gateway)',
    );
  }
  const pools: { field: string; cidr: Cidr }[] = [{ field: 'ipv4Pool', cidr: ipv4Pool }];
  if (ipv6Pool !== null) pools.push({ field: 'ipv6.pool', cidr: ipv6Pool });
  const ipv4Gateway = firstHost(ipv4Pool);
  const ipv6Gateway = ipv6Pool === null ? null : firstHost(ipv6Pool);
  /** Where a generated nat66 pool will lie, for checks that cannot wait for it. */
  const ipv6Area = ipv6Pool ?? (mode === 'nat66' ? ULA : null);

  const listenSeen = new Map<string, number>();
  const listenAddresses = (raw.listenAddresses ?? []).map((text, i) => {
    const field = `listenAddresses[${i}]`;
    const listen = listenAddressField(text, field);
    for (const pool of pools) {
      if (containsAddress(pool.cidr, listen.address)) {
        throw new FieldError(field, 'conflict', `${listen.text} lies inside ${pool.field} ${formatCidr(pool.cidr)}`);
      }
    }
    const first = listenSeen.get(listen.text);
    if (first !== undefined)
      throw new FieldError(field, 'duplicate', `${listen.text} is listenAddresses[${first}] too`);
    listenSeen.set(listen.text, i);
    return listen.text;
  });

  let endpoint: string | null = null;
  if (raw.endpoint !== undefined) {
    const checked = endpointField(raw.endpoint, 'endpoint');
    for (const pool of pools) {
      if (checked.address !== null && containsAddress(pool.cidr, checked.address)) {
        throw new FieldError(
          'endpoint',
          'conflict',
          `${formatIp(checked.address)} lies inside ${pool.field} ${formatCidr(pool.cidr)}`,
        );
      }
    }
    endpoint = checked.text;
  }

  const dns = uniqueList(raw.dns ?? [], 'dns', (text, field) => {
    const address = ipLiteral(text, field);
    const pool = address.length === 4 ? ipv4Pool : ipv6Pool;
    const gateway = address.length === 4 ? ipv4Gateway : ipv6Gateway;
    if (pool !== null && gateway !== null && containsAddress(pool, address) && !equalBytes(address, gateway)) {
      throw new FieldError(
        field,
        'conflict',
        `${formatIp(address)} is a client address in the pool; use the gateway's ${formatIp(gateway)} or a server outside ${formatCidr(pool)}`,
      );
    }
    return address;
  });

  const allowPrivate = uniqueList(raw.allowPrivate ?? [], 'allowPrivate', (text, field) => {
    const cidr = strictPrefix(text, field, { requireLength: false });
    for (const pool of pools) {
      if (overlaps(cidr, pool.cidr)) {
        throw new FieldError(
          field,
          'conflict',
          `${formatCidr(cidr)} overlaps ${pool.field} ${formatCidr(pool.cidr)} (clients are kept apart; the pool is not "behind the uplink")`,
        );
      }
    }
    if (ipv6Pool === null && ipv6Area !== null && overlaps(cidr, ipv6Area)) {
      throw new FieldError(
        field,
        'conflict',
        `${formatCidr(cidr)} overlaps ${formatCidr(ipv6Area)}, where the IPv6 pool is generated (set ipv6.pool to choose it)`,
      );
    }
    return cidr;
  });

  const uplinkCheck = raw.uplinkCheck === undefined ? null : normalizeUplinkCheck(raw.uplinkCheck);
  const traffic = normalizeTraffic(raw);
  const admin = normalizeAdmin(
    raw.admin,
    ipv6Area === null || ipv6Pool !== null ? pools : [...pools, { field: 'ipv6.pool (generated)', cidr: ipv6Area }],
  );

  // Keys last: they read files.
  const privateKeyFile = resolve(base, raw.privateKeyFile);
  const privateKey = readKeyFile(privateKeyFile, 'privateKeyFile');
  const handle = preparePrivateKey(privateKey);
  const publicKey = publicKeyOf(handle);

  const clients: GatewayClient[] = [];
  const names = new Map<string, number>();
  const keys = new Map<string, number>();
  const fixed = new Map<string, string>();
  wipeIfThrows(
    () => [privateKey, ...clients.map((c) => c.presharedKey)],
    () => {
      for (const [i, rc] of (raw.clients ?? []).entries()) {
        const at = `clients[${i}]`;
        clients.push(
          normalizeClient(rc, at, {
            base,
            names,
            keys,
            fixed,
            index: i,
            gatewayPublicKey: publicKey,
            gatewayKey: handle,
            ipv4Pool,
            ipv4Gateway,
            ipv6Pool,
            ipv6Gateway,
            leasePrefixLength,
            traffic,
          }),
        );
      }
    },
  );

  return {
    file,
    privateKey,
    publicKey,
    privateKeyFile,
    listenPort: raw.listenPort ?? GATEWAY_DEFAULTS.listenPort,
    listenAddresses,
    endpoint,
    uplink,
    interface: iface,
    mtu: raw.mtu ?? GATEWAY_DEFAULTS.mtu,
    ipv4Pool,
    ipv4Gateway,
    ipv6: { mode, pool: ipv6Pool, leasePrefixLength },
    dns,
    leaseLifetime: raw.leaseLifetime ?? GATEWAY_DEFAULTS.leaseLifetime,
    stateDir: resolve(base, raw.stateDir ?? GATEWAY_DEFAULTS.stateDir),
    allowPrivate,
    ...traffic,
    admin,
    uplinkCheck,
    clients,
  };
}

/** uplinkCheck: IP-literal host:port targets (no DNS names, no %zone), each once. */
function normalizeUplinkCheck(raw: NonNullable<RawGateway['uplinkCheck']>): UplinkCheck {
  const seen = new Map<string, number>();
  const targets = raw.targets.map((text, i): UplinkCheckTarget => {
    const field = `uplinkCheck.targets[${i}]`;
    const ep = endpointField(text, field);
    if (ep.address === null || ep.text.includes('%'))
      throw new FieldError(field, 'invalid', `${show(ep.text)} is not an IP address and port (no DNS names, no %zone)`);
    const port = Number(ep.text.slice(ep.text.lastIndexOf(':') + 1));
    const host = formatIp(ep.address);
    const key = `${host} ${port}`;
    const first = seen.get(key);
    if (first !== undefined) throw new FieldError(field, 'duplicate', `is uplinkCheck.targets[${first}] too`);
    seen.set(key, i);
    return { host, port, text: ep.text };
  });
  return { targets, interval: raw.interval ?? UPLINK_CHECK_INTERVAL_DEFAULT };
}
