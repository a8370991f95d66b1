// The gateway's configuration file (docs/gateway-config.md): read, checked and
// normalized before anything on the host changes.
//
//   file → YAML (syntax) → TypeBox schema (types, ranges, unknown fields)
//        → semantic checks (addresses, pools, keys, uniqueness) → GatewayConfig
//   GatewayConfig + CommandRunner → checkHost (read-only `ip -j` queries)
//
// Every problem is one GatewayConfigError whose message is one line,
// "<file>: <field path>: <what is wrong>", e.g.
// "gateway.yaml: clients[1].publicKey: not a WireGuard key (…)". A secret (a
// private or preshared key, or anything that looks like a key) never appears in
// a message: key values are never echoed, only the files that hold them.
//
// The field helpers (key files, endpoints, prefixes, the YAML and schema front
// end) live in shared/config/fields.ts, shared with the client agent's loader.

import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError } from '../shared/config/wg-quick.js';
import {
  CONFIG_ERROR_CODES,
  type ConfigErrorCode,
  FieldError,
  ULA,
  contains,
  endpointField,
  equalBytes,
  firstHost,
  interfaceName,
  ipLiteral,
  keyField,
  oneLine,
  lastAddress,
  listenAddressField,
  overlaps,
  parseYamlConfig,
  readConfigText,
  checkKeyFile,
  readKeyFile,
  refuseSpecial,
  show,
  strictPrefix,
  uniqueList,
} from '../shared/config/fields.js';
import { showPath } from '../shared/config/redact.js';
import { CommandError, type CommandRunner } from '../shared/host/command.js';
import { formatCidr, formatIp, parseCidr, type Cidr } from '../shared/wireguard/allowed-ips.js';
import { dh, equalConstantTime, preparePrivateKey, publicKeyOf, wipe } from '../shared/wireguard/crypto.js';

export { CONFIG_ERROR_CODES, FieldError, type ConfigErrorCode };

// ---------------------------------------------------------------------------
// Errors

/** "<file>: <field>: <problem>", one line. */
export class GatewayConfigError extends ConfigError {
  constructor(
    file: string,
    readonly field: string,
    readonly code: ConfigErrorCode,
    readonly problem: string,
    line = 0,
  ) {
    super(file, line, field === '' ? problem : `${field}: ${problem}`);
  }
}

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
}

/**
 * The gateway's configuration with every default filled in. Holds the
 * gateway's private key and clients' preshared keys (never a client's private
 * key): never log this object whole.
 */
export interface GatewayConfig {
  /** The configuration file as given, for messages. */
  file: string;
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  /** Absolute path (relative paths are resolved against the configuration file's folder). */
  privateKeyFile: string;
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
export const MTU_MIN = 1280; // IPv6 always runs through the tunnel (RFC 8200 section 5)
export const MTU_MAX = 9000;
export const LEASE_LIFETIME_MIN = 60;
export const LEASE_LIFETIME_MAX = 604_800;
const IPV4_POOL_LONGEST = 30;
const POOL_SHORTEST = 8;
const IPV6_POOL_LONGEST_128 = 126;
const IPV6_POOL_LONGEST_64 = 63;
const MAX_LIST = 64;
const MAX_DNS = 8;
const MAX_CLIENTS = 65_536;

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
  },
  { additionalProperties: false },
);

const GatewaySchema = Type.Object(
  {
    privateKeyFile: Text,
    listenPort: Type.Optional(Port),
    listenAddresses: Type.Optional(Type.Array(Text, { maxItems: MAX_LIST })),
    endpoint: Type.Optional(Text),
    uplink: Text,
    interface: Type.Optional(Text),
    mtu: Type.Optional(Type.Integer({ minimum: MTU_MIN, maximum: MTU_MAX })),
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
    dns: Type.Optional(Type.Array(Text, { maxItems: MAX_DNS })),
    leaseLifetime: Type.Optional(Type.Integer({ minimum: LEASE_LIFETIME_MIN, maximum: LEASE_LIFETIME_MAX })),
    stateDir: Type.Optional(Text),
    allowPrivate: Type.Optional(Type.Array(Text, { maxItems: MAX_LIST })),
    clients: Type.Optional(Type.Array(ClientSchema, { maxItems: MAX_CLIENTS })),
  },
  { additionalProperties: false },
);
type RawGateway = Static<typeof GatewaySchema>;
type RawClient = Static<typeof ClientSchema>;

// ---------------------------------------------------------------------------
// Loading

/** Reads, checks and normalizes a gateway configuration file. Throws GatewayConfigError. */
export function loadGatewayConfig(file: string): GatewayConfig {
  return parseGatewayConfig(readConfigText(file, wrapGateway(file)), file);
}

/**
 * Checks and normalizes the text of a gateway configuration; `file` names it in
 * messages, and relative paths in it are resolved against its folder.
 */
export function parseGatewayConfig(text: string, file: string): GatewayConfig {
  return parseYamlConfig(text, file, GatewaySchema, normalizeGateway, wrapGateway(file));
}

function wrapGateway(file: string): (e: FieldError, line?: number) => GatewayConfigError {
  return (e, line = 0) => new GatewayConfigError(file, e.field, e.code, e.problem, line);
}

function normalizeGateway(raw: RawGateway, file: string): GatewayConfig {
  const base = dirname(file);

  const uplink = interfaceName(raw.uplink, 'uplink');
  const iface = interfaceName(raw.interface ?? GATEWAY_DEFAULTS.interface, 'interface');
  if (iface === uplink) throw new FieldError('interface', 'conflict', `${show(iface)} is also the uplink`);

  const ipv4Pool = strictPrefix(raw.ipv4Pool ?? GATEWAY_DEFAULTS.ipv4Pool, 'ipv4Pool', {
    family: 4,
    requireLength: true,
  });
  if (ipv4Pool.prefixLength < POOL_SHORTEST || ipv4Pool.prefixLength > IPV4_POOL_LONGEST) {
    throw new FieldError(
      'ipv4Pool',
      'range',
      `prefix length must be /${POOL_SHORTEST} to /${IPV4_POOL_LONGEST}, got /${ipv4Pool.prefixLength}`,
    );
  }
  refuseSpecial(ipv4Pool, 'ipv4Pool', 'a tunnel pool');

  const mode = raw.ipv6?.mode ?? GATEWAY_DEFAULTS.ipv6Mode;
  const leasePrefixLength = raw.ipv6?.leasePrefixLength ?? GATEWAY_DEFAULTS.leasePrefixLength;
  let ipv6Pool: Cidr | null = null;
  if (raw.ipv6?.pool !== undefined) {
    ipv6Pool = strictPrefix(raw.ipv6.pool, 'ipv6.pool', { family: 6, requireLength: true });
    const longest = leasePrefixLength === 64 ? IPV6_POOL_LONGEST_64 : IPV6_POOL_LONGEST_128;
    if (ipv6Pool.prefixLength < POOL_SHORTEST || ipv6Pool.prefixLength > longest) {
      throw new FieldError(
        'ipv6.pool',
        'range',
        `prefix length must be /${POOL_SHORTEST} to /${longest} with leasePrefixLength ${leasePrefixLength}, got /${ipv6Pool.prefixLength}`,
      );
    }
    if (mode === 'nat66' && !(ipv6Pool.prefixLength >= ULA.prefixLength && contains(ULA, ipv6Pool.address))) {
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
      if (contains(pool.cidr, listen.address)) {
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
      if (checked.address !== null && contains(pool.cidr, checked.address)) {
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
    if (pool !== null && gateway !== null && contains(pool, address) && !equalBytes(address, gateway)) {
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

  // Keys last: they read files.
  const privateKeyFile = resolve(base, raw.privateKeyFile);
  const privateKey = readKeyFile(privateKeyFile, 'privateKeyFile');
  const handle = preparePrivateKey(privateKey);
  const publicKey = publicKeyOf(handle);

  const clients: GatewayClient[] = [];
  const names = new Map<string, number>();
  const keys = new Map<string, number>();
  const fixed = new Map<string, string>();
  try {
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
        }),
      );
    }
  } catch (e) {
    // No configuration comes out of this: the secrets read so far are not needed.
    wipe(privateKey, ...clients.map((c) => c.presharedKey));
    throw e;
  }

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
    clients,
  };
}

interface ClientContext {
  base: string;
  index: number;
  names: Map<string, number>;
  keys: Map<string, number>;
  /** Fixed addresses (text) → field that holds it. */
  fixed: Map<string, string>;
  gatewayPublicKey: Uint8Array;
  gatewayKey: ReturnType<typeof preparePrivateKey>;
  ipv4Pool: Cidr;
  ipv4Gateway: Uint8Array;
  ipv6Pool: Cidr | null;
  ipv6Gateway: Uint8Array | null;
  leasePrefixLength: 64 | 128;
}

const CLIENT_NAME = /^[A-Za-z0-9._-]{1,32}$/;

function normalizeClient(rc: RawClient, at: string, ctx: ClientContext): GatewayClient {
  if (!CLIENT_NAME.test(rc.name)) {
    throw new FieldError(`${at}.name`, 'invalid', `${show(rc.name)} is not a client name (1-32 of a-z A-Z 0-9 . _ -)`);
  }
  const sameName = ctx.names.get(rc.name);
  if (sameName !== undefined) {
    throw new FieldError(`${at}.name`, 'duplicate', `${show(rc.name)} is used by clients[${sameName}] too`);
  }
  ctx.names.set(rc.name, ctx.index);

  const publicKey = keyField(rc.publicKey, `${at}.publicKey`);
  if (equalConstantTime(publicKey, ctx.gatewayPublicKey)) {
    throw new FieldError(`${at}.publicKey`, 'conflict', "is the gateway's own public key");
  }
  const keyText = Buffer.from(publicKey).toString('base64');
  const sameKey = ctx.keys.get(keyText);
  if (sameKey !== undefined) {
    throw new FieldError(`${at}.publicKey`, 'duplicate', `is the key of clients[${sameKey}] too`);
  }
  ctx.keys.set(keyText, ctx.index);
  const shared = dh(ctx.gatewayKey, publicKey);
  if (shared === null) {
    throw new FieldError(`${at}.publicKey`, 'invalid', 'is a low-order point: no handshake with it can succeed');
  }
  wipe(shared);

  let ipv4: Uint8Array | null = null;
  if (rc.ipv4 !== undefined) {
    const field = `${at}.ipv4`;
    ipv4 = ipLiteral(rc.ipv4, field, 4);
    checkFixed(ipv4, field, ctx.ipv4Pool, ctx.ipv4Gateway, 'ipv4Pool', 32, ctx);
  }
  let ipv6: Uint8Array | null = null;
  if (rc.ipv6 !== undefined) {
    const field = `${at}.ipv6`;
    ipv6 = ipLiteral(rc.ipv6, field, 6);
    if (ctx.ipv6Pool === null || ctx.ipv6Gateway === null) {
      throw new FieldError(
        field,
        'conflict',
        'a fixed IPv6 address needs ipv6.pool to be set (the generated pool is not known yet)',
      );
    }
    checkFixed(ipv6, field, ctx.ipv6Pool, ctx.ipv6Gateway, 'ipv6.pool', ctx.leasePrefixLength, ctx);
  }

  // A stock client's private key file is checked here (so a daemon start
  // reports a missing or too open file) but read only by export-client.
  let privateKeyFile: string | null = null;
  if (rc.privateKeyFile !== undefined) {
    privateKeyFile = resolve(ctx.base, rc.privateKeyFile);
    checkKeyFile(privateKeyFile, `${at}.privateKeyFile`);
  }
  let presharedKey: Uint8Array | null = null;
  let presharedKeyFile: string | null = null;
  if (rc.presharedKeyFile !== undefined) {
    presharedKeyFile = resolve(ctx.base, rc.presharedKeyFile);
    presharedKey = readKeyFile(presharedKeyFile, `${at}.presharedKeyFile`);
  }
  return { name: rc.name, publicKey, presharedKey, presharedKeyFile, privateKeyFile, ipv4, ipv6 };
}

/**
 * Reads a stock client's private key from its privateKeyFile, for
 * export-client only; it must belong to the client's public key. The key is in
 * memory of its own: wipe it when done. Throws GatewayConfigError.
 */
export function readClientPrivateKey(config: GatewayConfig, client: GatewayClient): Uint8Array {
  const index = config.clients.indexOf(client);
  const field = `clients[${index}].privateKeyFile`;
  const fail = (e: FieldError) => new GatewayConfigError(config.file, e.field, e.code, e.problem);
  if (client.privateKeyFile === null) {
    throw fail(new FieldError(field, 'missing', 'export-client needs the private key of this client'));
  }
  let key: Uint8Array;
  try {
    key = readKeyFile(client.privateKeyFile, field);
  } catch (e) {
    if (e instanceof FieldError) throw fail(e);
    throw e;
  }
  const publicKey = publicKeyOf(key);
  if (!equalConstantTime(publicKey, client.publicKey)) {
    wipe(key);
    throw fail(
      new FieldError(
        field,
        'conflict',
        `${showPath(client.privateKeyFile)} is the private key of another public key than clients[${index}].publicKey`,
      ),
    );
  }
  return key;
}

/** A fixed client address: inside its pool, not reserved, not the gateway's, not taken. */
function checkFixed(
  address: Uint8Array,
  field: string,
  pool: Cidr,
  gateway: Uint8Array,
  poolField: string,
  leaseLength: number,
  ctx: ClientContext,
): void {
  const text = formatIp(address);
  if (!contains(pool, address)) {
    throw new FieldError(field, 'conflict', `${text} is outside ${poolField} ${formatCidr(pool)}`);
  }
  if (leaseLength < address.length * 8) {
    // A prefix per client: the field is the prefix start, and the pool's first prefix holds the gateway.
    const lease: Cidr = { family: pool.family, address, prefixLength: leaseLength };
    const start = parseCidr(`${text}/${leaseLength}`).address;
    if (!equalBytes(start, address)) {
      throw new FieldError(
        field,
        'invalid',
        `with leasePrefixLength ${leaseLength} this is the start of the client's /${leaseLength}; ${text} has host bits set (did you mean ${formatIp(start)}?)`,
      );
    }
    if (contains(lease, gateway)) {
      throw new FieldError(
        field,
        'conflict',
        `${text}/${leaseLength} holds the gateway's own address ${formatIp(gateway)}`,
      );
    }
  } else {
    if (equalBytes(address, pool.address)) {
      throw new FieldError(field, 'conflict', `${text} is the network address of ${poolField} ${formatCidr(pool)}`);
    }
    if (equalBytes(address, gateway)) {
      throw new FieldError(field, 'conflict', `${text} is the gateway's own address`);
    }
    if (pool.family === 4 && equalBytes(address, lastAddress(pool))) {
      throw new FieldError(field, 'conflict', `${text} is the broadcast address of ${poolField} ${formatCidr(pool)}`);
    }
  }
  const holder = ctx.fixed.get(text);
  if (holder !== undefined) throw new FieldError(field, 'duplicate', `${text} is the fixed address of ${holder} too`);
  ctx.fixed.set(text, field.slice(0, field.lastIndexOf('.')));
}

// ---------------------------------------------------------------------------
// Host checks

/**
 * Read-only checks against the host, before any change: the uplink exists, the
 * TUN name is free or already a TUN device, and no pool overlaps an address or
 * a route already on the host (default routes and whatever is on the gateway's
 * own TUN device aside). `ipv6Pool` supplies the pool the daemon generated
 * when the configuration has none. Throws GatewayConfigError (code 'host').
 */
export async function checkHost(
  config: GatewayConfig,
  runner: CommandRunner,
  options: { ipv6Pool?: Cidr } = {},
): Promise<void> {
  const fail = (field: string, problem: string): never => {
    throw new GatewayConfigError(config.file, field, 'host', problem);
  };

  const uplink = await ipJson(runner, ['-j', 'link', 'show', 'dev', config.uplink]);
  if (uplink !== null && uplink.error !== null) fail('uplink', `cannot inspect "${config.uplink}": ${uplink.error}`);
  if (uplink === null || !Array.isArray(uplink.value) || uplink.value.length === 0) {
    fail('uplink', `no interface "${config.uplink}" on this host`);
  }

  const tun = await ipJson(runner, ['-j', '-d', 'link', 'show', 'dev', config.interface]);
  if (tun !== null) {
    if (tun.error !== null) fail('interface', `cannot inspect "${config.interface}": ${tun.error}`);
    const link = Array.isArray(tun.value) ? (tun.value[0] as IpLink | undefined) : undefined;
    if (link !== undefined) {
      const kind = link.linkinfo?.info_kind;
      if (kind !== 'tun') {
        fail(
          'interface',
          `"${config.interface}" is already a ${kind ?? link.link_type ?? 'network'} device on this host, not a TUN device; choose another name`,
        );
      }
    }
  }

  const pools: { field: string; cidr: Cidr }[] = [{ field: 'ipv4Pool', cidr: config.ipv4Pool }];
  const ipv6Pool = config.ipv6.pool ?? options.ipv6Pool ?? null;
  if (ipv6Pool !== null) pools.push({ field: 'ipv6.pool', cidr: ipv6Pool });

  const addrs = await ipJson(runner, ['-j', 'address', 'show']);
  if (addrs === null || addrs.error !== null || !Array.isArray(addrs.value)) {
    fail('', `cannot list the host's addresses: ${addrs?.error ?? 'unexpected output from ip'}`);
  } else {
    for (const link of addrs.value as (IpLink | null)[]) {
      if (typeof link !== 'object' || link === null || link.ifname === config.interface) continue;
      for (const info of Array.isArray(link.addr_info) ? link.addr_info : []) {
        const cidr = hostPrefix(info?.local, info?.prefixlen);
        if (cidr === null || info === null) continue;
        for (const pool of pools) {
          if (overlaps(cidr, pool.cidr)) {
            fail(
              pool.field,
              `${formatCidr(pool.cidr)} overlaps the address ${info.local}/${info.prefixlen} of ${link.ifname ?? '?'} already on this host`,
            );
          }
        }
      }
    }
  }

  for (const family of ['-4', '-6']) {
    const routes = await ipJson(runner, ['-j', family, 'route', 'show', 'table', 'all']);
    if (routes === null || routes.error !== null || !Array.isArray(routes.value)) {
      fail('', `cannot list the host's routes: ${routes?.error ?? 'unexpected output from ip'}`);
    } else {
      for (const route of routes.value as (IpRoute | null)[]) {
        if (typeof route !== 'object' || route === null) continue;
        if (route.dev === config.interface || typeof route.dst !== 'string' || route.dst === 'default') continue;
        let dst: Cidr;
        try {
          dst = parseCidr(route.dst);
        } catch {
          continue;
        }
        if (dst.prefixLength === 0) continue;
        for (const pool of pools) {
          if (overlaps(dst, pool.cidr)) {
            const type = route.type !== undefined && route.type !== 'unicast' ? `${route.type} ` : '';
            const via = route.dev !== undefined ? ` via ${route.dev}` : '';
            fail(
              pool.field,
              `${formatCidr(pool.cidr)} overlaps the ${type}route to ${route.dst}${via} (table ${route.table ?? 'main'}) already on this host`,
            );
          }
        }
      }
    }
  }
}

interface IpLink {
  ifname?: string;
  link_type?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: ({ local?: string; prefixlen?: number } | null)[];
}

interface IpRoute {
  type?: string;
  dst?: string;
  dev?: string;
  table?: string;
}

/**
 * Runs `ip ARGS` and parses its JSON. null: the device does not exist; error:
 * any other failure, as one line.
 */
async function ipJson(runner: CommandRunner, args: string[]): Promise<{ value: unknown; error: string | null } | null> {
  let out: string;
  try {
    out = await runner.run('ip', args);
  } catch (e) {
    const text = e instanceof CommandError ? e.stderr : (e as Error).message;
    if (/does not exist|cannot find device/i.test(text)) return null;
    return { value: null, error: oneLine(text) || 'ip failed' };
  }
  try {
    return { value: JSON.parse(out === '' ? '[]' : out) as unknown, error: null };
  } catch {
    return { value: null, error: 'unexpected output from ip (not JSON)' };
  }
}

function hostPrefix(local: unknown, prefixLength: unknown): Cidr | null {
  if (typeof local !== 'string' || typeof prefixLength !== 'number') return null;
  try {
    return parseCidr(`${local}/${prefixLength}`);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Field helpers, shared with client/config.ts
