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
// The field helpers at the end (key files, endpoints, prefixes, the YAML and
// schema front end) are shared with the client agent's loader (client/config.ts).

import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import YAML, { LineCounter } from 'yaml';
import { ConfigError } from '../shared/config/wg-quick.js';
import { CommandError, type CommandRunner } from '../shared/host/command.js';
import { EndpointError, isV4Mapped, parseEndpoint as parseIoEndpoint } from '../shared/io/endpoint.js';
import { formatCidr, formatIp, parseCidr, parseIp, type Cidr } from '../shared/wireguard/allowed-ips.js';
import { dh, equalConstantTime, isZero, preparePrivateKey, publicKeyOf, wipe } from '../shared/wireguard/crypto.js';
import { parseKey } from '../shared/wireguard/keys.js';

// ---------------------------------------------------------------------------
// Errors

/** The closed list of configuration error codes. */
export const CONFIG_ERROR_CODES = [
  'unreadable', // the configuration file cannot be read
  'syntax', // not valid YAML
  'missing', // a required field is absent
  'type', // a field has the wrong type
  'unknown-field', // a field the format does not have
  'range', // a number or list size out of range
  'invalid', // text that does not parse (address, prefix, endpoint, name, key)
  'key-file', // a key file is missing, unreadable, too open, or holds no key
  'conflict', // overlapping prefixes, an address outside its pool or taken, the gateway's own key
  'duplicate', // a value that must be unique appears twice
  'host', // checkHost: the host disagrees with the configuration
] as const;
export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[number];

/**
 * A problem with one field, thrown by the field helpers; the loaders turn it
 * into their own error class, which adds the file name.
 */
export class FieldError extends Error {
  override readonly name = 'FieldError';
  constructor(
    /** Field path as the user writes it: `clients[1].publicKey`; empty for the whole file. */
    readonly field: string,
    readonly code: ConfigErrorCode,
    /** What is wrong, without the field. */
    readonly problem: string,
  ) {
    super(field === '' ? problem : `${field}: ${problem}`);
  }
}

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
  /** Only for stock clients whose key the admin made (for export-client); matches publicKey. */
  privateKey: Uint8Array | null;
  privateKeyFile: string | null;
  /** Fixed IPv4 address, or null (the gateway leases one). */
  ipv4: Uint8Array | null;
  /** Fixed IPv6 address (leasePrefixLength 128) or /64 prefix start (64), or null. */
  ipv6: Uint8Array | null;
}

/**
 * The gateway's configuration with every default filled in. Holds the
 * gateway's private key (and clients' preshared and private keys): never log
 * this object whole.
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
  const wrap = wrapGateway(file);
  const raw = parseYamlDocument(text, GatewaySchema, wrap);
  try {
    return normalizeGateway(raw, file);
  } catch (e) {
    if (e instanceof FieldError) throw wrap(e);
    throw e;
  }
}

function wrapGateway(file: string): (e: FieldError, line?: number) => GatewayConfigError {
  return (e, line = 0) => new GatewayConfigError(file, e.field, e.code, e.problem, line);
}

function normalizeGateway(raw: RawGateway, file: string): GatewayConfig {
  const base = dirname(file);

  const uplink = interfaceName(raw.uplink, 'uplink');
  const iface = interfaceName(raw.interface ?? GATEWAY_DEFAULTS.interface, 'interface');
  if (iface === uplink) throw new FieldError('interface', 'conflict', `"${iface}" is also the uplink`);

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
    wipe(privateKey, ...clients.flatMap((c) => [c.presharedKey, c.privateKey]));
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
    throw new FieldError(`${at}.name`, 'duplicate', `"${rc.name}" is used by clients[${sameName}] too`);
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

  let presharedKey: Uint8Array | null = null;
  let presharedKeyFile: string | null = null;
  if (rc.presharedKeyFile !== undefined) {
    presharedKeyFile = resolve(ctx.base, rc.presharedKeyFile);
    presharedKey = readKeyFile(presharedKeyFile, `${at}.presharedKeyFile`);
  }
  let privateKey: Uint8Array | null = null;
  let privateKeyFile: string | null = null;
  if (rc.privateKeyFile !== undefined) {
    const field = `${at}.privateKeyFile`;
    privateKeyFile = resolve(ctx.base, rc.privateKeyFile);
    try {
      privateKey = readKeyFile(privateKeyFile, field);
    } catch (e) {
      wipe(presharedKey);
      throw e;
    }
    if (!equalConstantTime(publicKeyOf(privateKey), publicKey)) {
      wipe(privateKey, presharedKey);
      throw new FieldError(
        field,
        'conflict',
        `${privateKeyFile} is the private key of another public key than ${at}.publicKey`,
      );
    }
  }
  return { name: rc.name, publicKey, presharedKey, presharedKeyFile, privateKey, privateKeyFile, ipv4, ipv6 };
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

/**
 * Reads a configuration file's text. `wrap` turns a problem into the caller's
 * error class.
 */
export function readConfigText(file: string, wrap: (e: FieldError, line?: number) => Error): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw wrap(new FieldError('', 'unreadable', `cannot read the file: ${errnoText(e)}`));
  }
}

/**
 * Parses one YAML document and checks it against a schema. An empty file is
 * an empty mapping (so the first missing field is named).
 */
export function parseYamlDocument<S extends TSchema>(
  text: string,
  schema: S,
  wrap: (e: FieldError, line?: number) => Error,
): Static<S> {
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: false, strict: true, lineCounter });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const line = lineCounter.linePos(syntax.pos[0]).line;
    const sourceLine = line > 0 ? (text.split(/\r?\n/)[line - 1] ?? '') : '';
    const hint = /\[[0-9A-Fa-f:.]*\]:\d/.test(sourceLine)
      ? ' (write an [IPv6]:port endpoint in quotes: "[2001:db8::1]:51820")'
      : '';
    throw wrap(new FieldError('', 'syntax', `YAML syntax: ${yamlProblem(syntax.message)}${hint}`), line);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw wrap(new FieldError('', 'syntax', `YAML: ${oneLine((e as Error).message)}`));
  }
  if (value === null || value === undefined) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw wrap(
      new FieldError('', 'type', `expected a mapping of settings (field: value), got ${describeValue(value)}`),
    );
  }
  if (!Value.Check(schema, value)) {
    const first = Value.Errors(schema, value).First();
    if (first !== undefined) throw wrap(schemaProblem(first));
  }
  return value as Static<S>;
}

/** The first line of a yaml library message, without its position suffix. */
function yamlProblem(message: string): string {
  return oneLine(message.replace(/ at line \d+, column \d+:?[\s\S]*$/, ''));
}

/** A TypeBox error as a FieldError, in the user's words. */
function schemaProblem(e: ValueError): FieldError {
  const field = fieldPath(e.path);
  const schema = e.schema as Record<string, unknown>;
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return new FieldError(field, 'missing', 'required, but missing');
    case ValueErrorType.ObjectAdditionalProperties: {
      const known = Object.keys((schema.properties as Record<string, unknown> | undefined) ?? {});
      const name = e.path
        .slice(e.path.lastIndexOf('/') + 1)
        .replace(/~1/g, '/')
        .replace(/~0/g, '~');
      const near = closest(name, known);
      return new FieldError(
        field,
        'unknown-field',
        `unknown field${near === undefined ? '' : ` (did you mean ${near}?)`}`,
      );
    }
    case ValueErrorType.String:
      return new FieldError(field, 'type', `must be text, got ${describeValue(e.value)}`);
    case ValueErrorType.StringMinLength:
      return new FieldError(field, 'invalid', 'must not be empty');
    case ValueErrorType.Integer:
    case ValueErrorType.Number:
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.IntegerMaximum: {
      const range =
        typeof schema.minimum === 'number' && typeof schema.maximum === 'number'
          ? ` from ${schema.minimum} to ${schema.maximum}`
          : '';
      const code = typeof e.value === 'number' && Number.isInteger(e.value) ? 'range' : 'type';
      return new FieldError(field, code, `must be a whole number${range}, got ${describeValue(e.value)}`);
    }
    case ValueErrorType.Array:
      return new FieldError(field, 'type', `must be a list, got ${describeValue(e.value)}`);
    case ValueErrorType.ArrayMaxItems:
      return new FieldError(field, 'range', `at most ${String(schema.maxItems)} entries`);
    case ValueErrorType.Object:
      return new FieldError(field, 'type', `must be a mapping (field: value), got ${describeValue(e.value)}`);
    case ValueErrorType.Boolean:
      return new FieldError(field, 'type', `must be true or false, got ${describeValue(e.value)}`);
    case ValueErrorType.Union: {
      const options = ((schema.anyOf as { const?: unknown }[] | undefined) ?? []).map((s) => JSON.stringify(s.const));
      return new FieldError(field, 'invalid', `must be one of ${options.join(', ')}, got ${describeValue(e.value)}`);
    }
    default:
      return new FieldError(field, 'invalid', oneLine(e.message).toLowerCase());
  }
}

/** "/clients/1/publicKey" → "clients[1].publicKey". */
export function fieldPath(pointer: string): string {
  let out = '';
  for (const part of pointer.split('/').slice(1)) {
    const name = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(name)) out += `[${name}]`;
    else if (/^[A-Za-z0-9_-]{1,40}$/.test(name)) out += out === '' ? name : `.${name}`;
    else out += `[${show(name)}]`;
  }
  return out;
}

const LOOKS_LIKE_KEY = /[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=/;

/** A user's value for a message: quoted, shortened, and never anything that looks like a key. */
export function show(value: string): string {
  if (LOOKS_LIKE_KEY.test(value)) return '(a value that looks like a key, not shown)';
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
}

/** What a value is, for type errors; never the value itself when it is text. */
function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'string') return 'text';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'a number';
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'binary data';
  if (value instanceof Date) return 'a date';
  return 'a mapping';
}

/** The known field a misspelt one most likely means, if any is close enough. */
function closest(name: string, known: string[]): string | undefined {
  const allowed = Math.max(2, Math.floor(name.length / 2));
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const k of known) {
    const d = editDistance(k, name);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[y.length]!;
}

function oneLine(text: string): string {
  return text.trim().split(/\r?\n/)[0]!.trim();
}

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return code ?? oneLine((e as Error).message);
  }
}

/** Largest key file accepted: a key line with some whitespace around it. */
const KEY_FILE_MAX = 256;

/**
 * Reads a key file (base64 as `meshgate genkey` / `wg genkey` writes it). It
 * must be a regular file without any group or other permission bits. The
 * message names the file and its mode, never its content.
 */
export function readKeyFile(path: string, field: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new FieldError(field, 'key-file', `cannot read ${path}: ${errnoText(e)}`);
  }
  const buffer = Buffer.alloc(KEY_FILE_MAX + 1);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new FieldError(field, 'key-file', `${path} is not a regular file`);
    const mode = stat.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new FieldError(
        field,
        'key-file',
        `${path} has mode ${mode.toString(8).padStart(4, '0')}: group/others may access it (chmod 600 ${path})`,
      );
    }
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > KEY_FILE_MAX) throw new FieldError(field, 'key-file', `${path} is too large to be a key file`);
    }
    try {
      return parseKey(buffer.subarray(0, length).toString('latin1'));
    } catch {
      throw new FieldError(
        field,
        'key-file',
        `${path} does not hold a WireGuard key (44 characters of base64, as meshgate genkey writes)`,
      );
    }
  } catch (e) {
    if (e instanceof FieldError) throw e;
    throw new FieldError(field, 'key-file', `cannot read ${path}: ${errnoText(e)}`);
  } finally {
    wipe(buffer);
    closeSync(fd);
  }
}

/** A public key written in the configuration; the value is never echoed. */
export function keyField(text: string, field: string): Uint8Array {
  let key: Uint8Array;
  try {
    key = parseKey(text);
  } catch {
    throw new FieldError(field, 'invalid', "not a WireGuard key (44 characters of base64, ending in '=')");
  }
  if (isZero(key)) throw new FieldError(field, 'invalid', 'is all zeros, not a public key');
  return key;
}

const IFNAME = /^[A-Za-z0-9_=+.-]{1,15}$/;

/** A Linux interface name. */
export function interfaceName(text: string, field: string): string {
  if (!IFNAME.test(text) || text === '.' || text === '..') {
    throw new FieldError(field, 'invalid', `${show(text)} is not an interface name (1-15 of a-z A-Z 0-9 _ = + . -)`);
  }
  return text;
}

/** An IPv4 or IPv6 address literal, optionally of one family. */
export function ipLiteral(text: string, field: string, family?: 4 | 6): Uint8Array {
  let address: Uint8Array;
  try {
    address = parseIp(text.trim());
  } catch {
    const what = family === 4 ? 'an IPv4 address' : family === 6 ? 'an IPv6 address' : 'an IP address';
    throw new FieldError(field, 'invalid', `${show(text)} is not ${what}`);
  }
  if (family !== undefined && address.length !== (family === 4 ? 4 : 16)) {
    throw new FieldError(field, 'invalid', `${show(text)} is not an IPv${family} address`);
  }
  return address;
}

/**
 * A prefix written without host bits ("100.64.0.0/16"; "100.64.0.5/16" is
 * refused with the prefix it probably means). A bare address is a /32 or /128
 * unless `requireLength`.
 */
export function strictPrefix(text: string, field: string, opts: { family?: 4 | 6; requireLength: boolean }): Cidr {
  const s = text.trim();
  const slash = s.indexOf('/');
  if (opts.requireLength && slash < 0) {
    throw new FieldError(field, 'invalid', `${show(text)} is not a prefix (address/length, e.g. 100.64.0.0/16)`);
  }
  let cidr: Cidr;
  let address: Uint8Array;
  try {
    cidr = parseCidr(s);
    address = parseIp(slash < 0 ? s : s.slice(0, slash));
  } catch {
    throw new FieldError(field, 'invalid', `${show(text)} is not an IP prefix (address/length, e.g. 192.168.77.0/24)`);
  }
  if (opts.family !== undefined && cidr.family !== opts.family) {
    throw new FieldError(field, 'invalid', `${show(text)} is not an IPv${opts.family} prefix`);
  }
  if (!equalBytes(address, cidr.address)) {
    throw new FieldError(field, 'invalid', `${show(text)} has host bits set (did you mean ${formatCidr(cidr)}?)`);
  }
  return cidr;
}

/** Entries of a list field, each checked by `parse`, with duplicates refused. */
export function uniqueList<T extends Uint8Array | Cidr>(
  items: readonly string[],
  field: string,
  parse: (text: string, field: string) => T,
): T[] {
  const seen = new Map<string, number>();
  return items.map((text, i) => {
    const value = parse(text, `${field}[${i}]`);
    const key = value instanceof Uint8Array ? formatIp(value) : formatCidr(value);
    const first = seen.get(key);
    if (first !== undefined) throw new FieldError(`${field}[${i}]`, 'duplicate', `${key} is ${field}[${first}] too`);
    seen.set(key, i);
    return value;
  });
}

/** Ranges a tunnel pool or a tunnel route must stay out of, and why. */
const SPECIAL: { cidr: Cidr; why: string }[] = [
  ['0.0.0.0/8', 'this-network addresses'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/8', 'loopback, unspecified and IPv4-mapped addresses'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
  ['200::/7', 'Yggdrasil: tunnelling it would cut the mesh the tunnel runs over'],
].map(([text, why]) => ({ cidr: parseCidr(text!), why: why! }));
/** The unique local range of RFC 4193 with L = 1 (fc00::/8 is cjdns's). */
export const ULA: Cidr = parseCidr('fd00::/8');

export function refuseSpecial(cidr: Cidr, field: string, what: string): void {
  for (const special of SPECIAL) {
    if (overlaps(cidr, special.cidr)) {
      throw new FieldError(
        field,
        'conflict',
        `${formatCidr(cidr)} overlaps ${formatCidr(special.cidr)} (${special.why}), which cannot be ${what}`,
      );
    }
  }
}

/** An endpoint as checked by endpointField. */
export interface CheckedEndpoint {
  /** As written (trimmed): "192.0.2.1:51820", "[200:1::1]:51820", "[fe80::1%wlan0]:51820", "gw.example.net:51820". */
  text: string;
  /** The address when the host is an IP literal (4 or 16 bytes); null for a DNS name, resolved by whoever connects. */
  address: Uint8Array | null;
}

const DNS_NAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * `host:port` or `[IPv6]:port` (a link-local address may carry a %zone); host
 * is an IP literal or a DNS name. Checked with the data path's own parser
 * (shared/io/endpoint.ts), without looking at the host's interfaces or DNS.
 */
export function endpointField(text: string, field: string): CheckedEndpoint {
  const s = text.trim();
  const anyZone = { ifindex: (name: string) => (IFNAME.test(name) ? 1 : undefined) };
  try {
    const ep = parseIoEndpoint(s, anyZone);
    if (s.startsWith('[') && isV4Mapped(ep.address)) {
      throw new FieldError(
        field,
        'invalid',
        'brackets are only for IPv6 addresses (192.0.2.1:51820, [2001:db8::1]:51820)',
      );
    }
    return { text: s, address: isV4Mapped(ep.address) ? ep.address.slice(12) : ep.address };
  } catch (e) {
    if (!(e instanceof EndpointError)) throw e;
    if (e.code === 'hostname') {
      const colon = s.lastIndexOf(':');
      const host = s.slice(0, colon);
      if (DNS_NAME.test(host) && !/^[0-9.]+$/.test(host)) return { text: s, address: null };
      throw new FieldError(field, 'invalid', `${show(host)} is neither an IP address nor a DNS name`);
    }
    const unbracketedIpv6 = !s.startsWith('[') && s.split(':').length > 2;
    if (e.code === 'syntax' && !unbracketedIpv6) {
      throw new FieldError(field, 'invalid', `${show(s)} is not host:port or [IPv6]:port`);
    }
    throw new FieldError(field, 'invalid', LOOKS_LIKE_KEY.test(e.message) ? 'not host:port or [IPv6]:port' : e.message);
  }
}

/**
 * A listening address: an IP literal, a link-local IPv6 one optionally with a
 * %zone. Returns its canonical text and its bytes (4 or 16).
 */
export function listenAddressField(text: string, field: string): { text: string; address: Uint8Array } {
  const s = text.trim();
  const pct = s.indexOf('%');
  const address = ipLiteral(pct < 0 ? s : s.slice(0, pct), field);
  if (pct < 0) return { text: formatIp(address), address };
  const zone = s.slice(pct + 1);
  const linkLocal = address.length === 16 && address[0] === 0xfe && (address[1]! & 0xc0) === 0x80;
  if (!linkLocal) throw new FieldError(field, 'invalid', `a %zone is only for a link-local IPv6 address (fe80::/10)`);
  if (!IFNAME.test(zone)) throw new FieldError(field, 'invalid', `${show(zone)} is not an interface name`);
  return { text: `${formatIp(address)}%${zone}`, address };
}

// ---------------------------------------------------------------------------
// Prefix arithmetic

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether `address` (same family) lies inside `prefix`. */
export function contains(prefix: Cidr, address: Uint8Array): boolean {
  if (address.length !== prefix.address.length) return false;
  let bits = prefix.prefixLength;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i]! & mask) !== (prefix.address[i]! & mask)) return false;
  }
  return true;
}

/** Whether two prefixes share an address (one contains the other). */
export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  return a.prefixLength <= b.prefixLength ? contains(a, b.address) : contains(b, a.address);
}

/** The first host address of a pool (its network address + 1): the gateway's. */
export function firstHost(pool: Cidr): Uint8Array {
  const out = Uint8Array.from(pool.address);
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = (out[i]! + 1) & 0xff;
    if (out[i] !== 0) break;
  }
  return out;
}

/** The last address of a prefix (IPv4: its broadcast address). */
export function lastAddress(pool: Cidr): Uint8Array {
  const out = Uint8Array.from(pool.address);
  for (let bit = pool.prefixLength; bit < out.length * 8; bit++) out[bit >> 3]! |= 0x80 >> (bit & 7);
  return out;
}
