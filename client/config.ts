// The client agent's configuration file (docs/client-config.md): read,
// checked and normalized before the agent touches the host.
//
//   file → YAML → TypeBox schema → semantic checks (keys, endpoint, routes) → ClientConfig
//
// Errors are ConfigError, one line: "<file>: <field path>: <what is wrong>",
// never with a key in it (the field validators are shared/config/fields.ts).

import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError, FieldError } from '../shared/config/config-error.js';
import {
  endpointField,
  interfaceName,
  keyField,
  refuseLowOrder,
  refuseSpecial,
  strictPrefix,
  uniqueList,
} from '../shared/config/fields.js';
import { readKeyFile, wipeIfThrows, type OwnKeyConfig } from '../shared/config/key-file.js';
import { loadYamlConfig, parseYamlConfig } from '../shared/config/yaml.js';
import { containsAddress, formatCidr, parseCidr, type Cidr } from '../shared/net/address.js';
import { CJDNS, YGGDRASIL } from '../shared/net/special-ranges.js';
import { equalConstantTime, publicKeyOf, wipe } from '../shared/wireguard/crypto.js';

export { ConfigError };

/** The agent's configuration with defaults filled in. Holds the private key: never log it whole. */
export interface ClientConfig extends OwnKeyConfig {
  /** The TUN device. */
  interface: string;
  /** One or more gateways (`gateway:` or `gateways:`), in the order written. */
  gateways: ClientGateway[];
  /** How gateways are watched and chosen (used with more than one). */
  failover: FailoverConfig;
  /** Seconds; 0 = off. */
  persistentKeepalive: number;
  /** Destinations routed into the tunnel once the lease is up. */
  routes: Cidr[];
  /** `default` in routes: everything through the tunnel, per family the lease has (policy routing, as meshgate up). */
  defaultRoute: boolean;
  /** Apply the lease's DNS servers (resolv.conf or systemd-resolved), restored on exit. */
  dns: boolean;
  /** With the default route: `outside` keeps the main table's more specific routes (the LAN) outside the tunnel. */
  lan: LanMode;
  /** With the default route: nothing leaves outside the tunnel while the agent runs (client/kill-switch.ts). */
  killSwitch: boolean;
  /** With the default route: route a LAN behind this machine through the tunnel (client/router.ts); null: off. */
  router: RouterConfig | null;
}

export interface ClientGateway {
  /** For logs and the status (default gw1, gw2, … by position). */
  name: string;
  publicKey: Uint8Array;
  /** host:port or [IPv6]:port as written, tried in this order; a DNS name is resolved by the agent. */
  endpoints: string[];
  /** Lower is preferred; equal priorities are chosen between by round-trip time. */
  priority: number;
  presharedKey: Uint8Array | null;
  presharedKeyFile: string | null;
}

/** client/failover.ts; all times in milliseconds. */
export interface FailoverConfig {
  /** A PROBE to every gateway this often. */
  probeIntervalMs: number;
  /** A gateway that answered no PROBE for this long is down. */
  deadAfterMs: number;
  /** A gateway that came back must stay up this long before the agent returns to it. */
  holdDownMs: number;
}

export interface RouterConfig {
  /** The LAN interface (OpenWrt: br-lan). */
  lanInterface: string;
  /**
   * IPv6 of the LAN hosts: `nat66` into the lease address, or `routed`: a /64
   * lease is put on the LAN interface (its ::1) and routed, not NATed (a /128
   * lease falls back to NAT66).
   */
  ipv6: 'nat66' | 'routed';
}

export type LanMode = 'outside' | 'tunnel';

export const CLIENT_DEFAULTS = {
  interface: 'mgc0',
  persistentKeepalive: 25,
  dns: true,
  lan: 'outside',
  killSwitch: false,
  priority: 1,
  probeInterval: 1,
  deadAfter: 3,
  holdDown: 10,
} as const;

/** Bounds of the failover timings, seconds. */
export const FAILOVER_LIMITS = {
  probeIntervalMin: 0.2,
  probeIntervalMax: 60,
  deadAfterMax: 600,
  holdDownMax: 3600,
  /** deadAfter is at least this many probe intervals (one lost probe is no failure). */
  probesPerDeadAfter: 2,
} as const;

/** The word in `routes` for "everything" (0.0.0.0/0 and ::/0). */
export const DEFAULT_ROUTE_WORD = 'default';

const MAX_ROUTES = 256;
const MAX_GATEWAYS = 16;
const MAX_ENDPOINTS = 8;
const MAX_PRIORITY = 65535;
const Text = Type.String({ minLength: 1 });

const GatewayFields = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 32, pattern: '^[A-Za-z0-9_.-]+$' })),
  publicKey: Text,
  endpoint: Type.Optional(Text),
  endpoints: Type.Optional(Type.Array(Text, { maxItems: MAX_ENDPOINTS })),
  priority: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_PRIORITY })),
  presharedKeyFile: Type.Optional(Text),
};

const ClientSchema = Type.Object(
  {
    privateKeyFile: Text,
    interface: Type.Optional(Text),
    gateway: Type.Optional(Type.Object(GatewayFields, { additionalProperties: false })),
    gateways: Type.Optional(
      Type.Array(Type.Object(GatewayFields, { additionalProperties: false }), { maxItems: MAX_GATEWAYS }),
    ),
    failover: Type.Optional(
      Type.Object(
        {
          probeInterval: Type.Optional(Type.Number()),
          deadAfter: Type.Optional(Type.Number()),
          holdDown: Type.Optional(Type.Number()),
        },
        { additionalProperties: false },
      ),
    ),
    persistentKeepalive: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    routes: Type.Optional(Type.Array(Text, { maxItems: MAX_ROUTES })),
    dns: Type.Optional(Type.Boolean()),
    lan: Type.Optional(Type.Union([Type.Literal('outside'), Type.Literal('tunnel')])),
    killSwitch: Type.Optional(Type.Boolean()),
    router: Type.Optional(
      Type.Object(
        { lanInterface: Text, ipv6: Type.Optional(Type.Union([Type.Literal('nat66'), Type.Literal('routed')])) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
type RawClient = Static<typeof ClientSchema>;

/** Reads, checks and normalizes a client agent configuration file (relative paths in it are against its folder). Throws ConfigError. */
export const loadClientConfig = (file: string): ClientConfig => loadYamlConfig(file, ClientSchema, normalizeClient);

/** The same for the text of a client configuration; `file` names it in messages. */
export const parseClientConfig = (text: string, file: string): ClientConfig =>
  parseYamlConfig(text, file, ClientSchema, normalizeClient);

type RawGateway = NonNullable<RawClient['gateway']>;
/** A gateway's fields, checked, before its key files are read. */
type GatewayDraft = Omit<ClientGateway, 'presharedKey' | 'presharedKeyFile'> & {
  field: string;
  addresses: { text: string; address: Uint8Array | null }[];
  pskFile: string | null;
};

/** `gateway:` (one) or `gateways:` (a list): exactly one of them, each gateway with one or more endpoints. */
function gatewayDrafts(raw: RawClient, base: string): GatewayDraft[] {
  if (raw.gateway !== undefined && raw.gateways !== undefined)
    throw new FieldError('gateways', 'conflict', 'write either gateway (one) or gateways (a list), not both');
  const list: [RawGateway, string][] =
    raw.gateways !== undefined
      ? raw.gateways.map((g, i) => [g, `gateways[${i}]`])
      : raw.gateway !== undefined
        ? [[raw.gateway, 'gateway']]
        : [];
  if (raw.gateways?.length === 0) throw new FieldError('gateways', 'range', 'is empty: list one gateway at least');
  if (list.length === 0) throw new FieldError('gateway', 'missing', 'is required (or gateways, a list)');
  const names = new Map<string, string>();
  const keys: { key: Uint8Array; field: string }[] = [];
  return list.map(([g, field], i) => {
    const publicKey = keyField(g.publicKey, `${field}.publicKey`);
    const same = keys.find((k) => equalConstantTime(k.key, publicKey));
    if (same !== undefined) throw new FieldError(`${field}.publicKey`, 'duplicate', `is ${same.field}.publicKey too`);
    keys.push({ key: publicKey, field });
    if (g.endpoint !== undefined && g.endpoints !== undefined)
      throw new FieldError(
        `${field}.endpoints`,
        'conflict',
        'write either endpoint (one) or endpoints (a list), not both',
      );
    if (g.endpoints?.length === 0)
      throw new FieldError(`${field}.endpoints`, 'range', 'is empty: list one endpoint at least');
    const written = g.endpoints ?? (g.endpoint !== undefined ? [g.endpoint] : []);
    if (written.length === 0)
      throw new FieldError(`${field}.endpoint`, 'missing', 'is required (or endpoints, a list)');
    const listField = g.endpoints !== undefined ? `${field}.endpoints` : null;
    const seen = new Map<string, number>();
    const addresses = written.map((text, j) => {
      const f = listField === null ? `${field}.endpoint` : `${listField}[${j}]`;
      const ep = endpointField(text, f);
      const first = seen.get(ep.text);
      if (first !== undefined) throw new FieldError(f, 'duplicate', `${ep.text} is ${listField}[${first}] too`);
      seen.set(ep.text, j);
      return ep;
    });
    const name = g.name ?? `gw${i + 1}`;
    const taken = names.get(name);
    if (taken !== undefined) throw new FieldError(`${field}.name`, 'duplicate', `${name} is ${taken}.name too`);
    names.set(name, field);
    return {
      field,
      name,
      publicKey,
      endpoints: addresses.map((a) => a.text),
      addresses,
      priority: g.priority ?? CLIENT_DEFAULTS.priority,
      pskFile: g.presharedKeyFile === undefined ? null : resolve(base, g.presharedKeyFile),
    };
  });
}

function seconds(value: number | undefined, fallback: number, field: string, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min || v > max)
    throw new FieldError(field, 'range', `must be ${min} to ${max} seconds`);
  return Math.round(v * 1000);
}

function failoverConfig(raw: RawClient['failover']): FailoverConfig {
  const L = FAILOVER_LIMITS;
  const probeIntervalMs = seconds(
    raw?.probeInterval,
    CLIENT_DEFAULTS.probeInterval,
    'failover.probeInterval',
    L.probeIntervalMin,
    L.probeIntervalMax,
  );
  const minDead = (probeIntervalMs * L.probesPerDeadAfter) / 1000;
  const deadAfterMs = seconds(raw?.deadAfter, CLIENT_DEFAULTS.deadAfter, 'failover.deadAfter', minDead, L.deadAfterMax);
  const holdDownMs = seconds(raw?.holdDown, CLIENT_DEFAULTS.holdDown, 'failover.holdDown', 0, L.holdDownMax);
  return { probeIntervalMs, deadAfterMs, holdDownMs };
}

function normalizeClient(raw: RawClient, file: string): ClientConfig {
  const base = dirname(file);
  const iface = interfaceName(raw.interface ?? CLIENT_DEFAULTS.interface, 'interface');
  const drafts = gatewayDrafts(raw, base);
  const endpoints = drafts.flatMap((d) => d.addresses);
  const failover = failoverConfig(raw.failover);

  // `default` stands in the list as 0.0.0.0/0 (so a second one is a duplicate) and is taken out after.
  const everything = parseCidr('0.0.0.0/0');
  const listed = uniqueList(raw.routes ?? [], 'routes', (text, field) => {
    if (text.trim().toLowerCase() === DEFAULT_ROUTE_WORD) return everything;
    const cidr = strictPrefix(text, field, { requireLength: false });
    if (cidr.prefixLength === 0) {
      throw new FieldError(
        field,
        'invalid',
        `${formatCidr(cidr)} is a default route: write "${DEFAULT_ROUTE_WORD}" (both families, each when the lease has it)`,
      );
    }
    refuseSpecial(cidr, field, 'routed into the tunnel');
    const inside = endpoints.find((e) => e.address !== null && containsAddress(cidr, e.address));
    if (inside !== undefined) {
      throw new FieldError(
        field,
        'conflict',
        `${formatCidr(cidr)} contains the gateway endpoint ${inside.text} (the tunnel's own packets would loop into it)`,
      );
    }
    return cidr;
  });

  // An overlay's node peers with its neighbours over the LAN (TCP/UDP between underlay
  // addresses): lan: tunnel would route those links into the tunnel that rides on them.
  const lan = raw.lan ?? CLIENT_DEFAULTS.lan;
  for (const e of endpoints) {
    const overlay = [YGGDRASIL, CJDNS].find((r) => e.address !== null && containsAddress(r, e.address));
    if (lan === 'tunnel' && listed.includes(everything) && overlay !== undefined) {
      throw new FieldError(
        'lan',
        'conflict',
        `"tunnel" would route the mesh node's own peer links into the tunnel, which runs over the mesh (a gateway is reached at ${e.text}, inside ${formatCidr(overlay)}); use lan: outside`,
      );
    }
  }
  const killSwitch = raw.killSwitch ?? CLIENT_DEFAULTS.killSwitch;
  if (killSwitch && !listed.includes(everything))
    throw new FieldError(
      'killSwitch',
      'conflict',
      `needs "${DEFAULT_ROUTE_WORD}" in routes (without a default route through the tunnel, everything else must leave outside it)`,
    );

  let router: RouterConfig | null = null;
  if (raw.router !== undefined) {
    if (!listed.includes(everything))
      throw new FieldError(
        'router',
        'conflict',
        `needs "${DEFAULT_ROUTE_WORD}" in routes (the LAN's traffic follows the tunnel's default route)`,
      );
    // lan: tunnel would send the replies to the LAN hosts into the tunnel too.
    if (lan === 'tunnel')
      throw new FieldError('router', 'conflict', 'needs lan: outside (the replies to the LAN must stay on it)');
    const lanInterface = interfaceName(raw.router.lanInterface, 'router.lanInterface');
    if (lanInterface === iface)
      throw new FieldError('router.lanInterface', 'conflict', `is the tunnel device ${iface}`);
    router = { lanInterface, ipv6: raw.router.ipv6 ?? 'nat66' };
  }

  const privateKeyFile = resolve(base, raw.privateKeyFile);
  const privateKey = readKeyFile(privateKeyFile, 'privateKeyFile');
  const publicKey = publicKeyOf(privateKey);
  const gateways: ClientGateway[] = [];
  const secrets = () => [privateKey, ...gateways.flatMap((g) => (g.presharedKey === null ? [] : [g.presharedKey]))];
  for (const d of drafts) {
    if (equalConstantTime(publicKey, d.publicKey)) {
      wipe(...secrets());
      throw new FieldError(`${d.field}.publicKey`, 'conflict', "is this client's own public key (from privateKeyFile)");
    }
    wipeIfThrows(secrets, () => refuseLowOrder(privateKey, d.publicKey, `${d.field}.publicKey`));
    const pskFile = d.pskFile;
    const presharedKey =
      pskFile === null ? null : wipeIfThrows(secrets, () => readKeyFile(pskFile, `${d.field}.presharedKeyFile`));
    gateways.push({
      name: d.name,
      publicKey: d.publicKey,
      endpoints: d.endpoints,
      priority: d.priority,
      presharedKey,
      presharedKeyFile: pskFile,
    });
  }

  return {
    file,
    privateKey,
    publicKey,
    privateKeyFile,
    interface: iface,
    gateways,
    failover,
    persistentKeepalive: raw.persistentKeepalive ?? CLIENT_DEFAULTS.persistentKeepalive,
    routes: listed.filter((c) => c !== everything),
    defaultRoute: listed.includes(everything),
    dns: raw.dns ?? CLIENT_DEFAULTS.dns,
    lan,
    killSwitch,
    router,
  };
}

/** Wipes every key a loaded configuration holds (commands that only needed its names). */
export function wipeClientSecrets(config: ClientConfig): void {
  wipe(config.privateKey);
  for (const g of config.gateways) if (g.presharedKey !== null) wipe(g.presharedKey);
}
