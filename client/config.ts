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
  gateway: {
    publicKey: Uint8Array;
    /** host:port or [IPv6]:port as written; a DNS name is resolved by the agent. */
    endpoint: string;
    presharedKey: Uint8Array | null;
    presharedKeyFile: string | null;
  };
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

export interface RouterConfig {
  /** The LAN interface (OpenWrt: br-lan). */
  lanInterface: string;
  /** IPv6 of the LAN hosts: NAT66 into the lease address (routed /64 comes next). */
  ipv6: 'nat66';
}

export type LanMode = 'outside' | 'tunnel';

export const CLIENT_DEFAULTS = {
  interface: 'mgc0',
  persistentKeepalive: 25,
  dns: true,
  lan: 'outside',
  killSwitch: false,
} as const;

/** The word in `routes` for "everything" (0.0.0.0/0 and ::/0). */
export const DEFAULT_ROUTE_WORD = 'default';

const MAX_ROUTES = 256;
const Text = Type.String({ minLength: 1 });

const ClientSchema = Type.Object(
  {
    privateKeyFile: Text,
    interface: Type.Optional(Text),
    gateway: Type.Object(
      {
        publicKey: Text,
        endpoint: Text,
        presharedKeyFile: Type.Optional(Text),
      },
      { additionalProperties: false },
    ),
    persistentKeepalive: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    routes: Type.Optional(Type.Array(Text, { maxItems: MAX_ROUTES })),
    dns: Type.Optional(Type.Boolean()),
    lan: Type.Optional(Type.Union([Type.Literal('outside'), Type.Literal('tunnel')])),
    killSwitch: Type.Optional(Type.Boolean()),
    router: Type.Optional(
      Type.Object({ lanInterface: Text, ipv6: Type.Optional(Type.Literal('nat66')) }, { additionalProperties: false }),
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

function normalizeClient(raw: RawClient, file: string): ClientConfig {
  const base = dirname(file);
  const iface = interfaceName(raw.interface ?? CLIENT_DEFAULTS.interface, 'interface');
  const gatewayPublicKey = keyField(raw.gateway.publicKey, 'gateway.publicKey');
  const endpoint = endpointField(raw.gateway.endpoint, 'gateway.endpoint');

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
    if (endpoint.address !== null && containsAddress(cidr, endpoint.address)) {
      throw new FieldError(
        field,
        'conflict',
        `${formatCidr(cidr)} contains the gateway's endpoint ${endpoint.text} (the tunnel's own packets would loop into it)`,
      );
    }
    return cidr;
  });

  // An overlay's node peers with its neighbours over the LAN (TCP/UDP between underlay
  // addresses): lan: tunnel would route those links into the tunnel that rides on them.
  const lan = raw.lan ?? CLIENT_DEFAULTS.lan;
  const overlay = [YGGDRASIL, CJDNS].find((r) => endpoint.address !== null && containsAddress(r, endpoint.address));
  if (lan === 'tunnel' && listed.includes(everything) && overlay !== undefined) {
    throw new FieldError(
      'lan',
      'conflict',
      `"tunnel" would route the mesh node's own peer links into the tunnel, which runs over the mesh (the gateway is reached at ${endpoint.text}, inside ${formatCidr(overlay)}); use lan: outside`,
    );
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
  if (equalConstantTime(publicKey, gatewayPublicKey)) {
    wipe(privateKey);
    throw new FieldError('gateway.publicKey', 'conflict', "is this client's own public key (from privateKeyFile)");
  }
  const secrets = () => [privateKey];
  wipeIfThrows(secrets, () => refuseLowOrder(privateKey, gatewayPublicKey, 'gateway.publicKey'));

  let presharedKey: Uint8Array | null = null;
  let presharedKeyFile: string | null = null;
  if (raw.gateway.presharedKeyFile !== undefined) {
    const path = resolve(base, raw.gateway.presharedKeyFile);
    presharedKeyFile = path;
    presharedKey = wipeIfThrows(secrets, () => readKeyFile(path, 'gateway.presharedKeyFile'));
  }

  return {
    file,
    privateKey,
    publicKey,
    privateKeyFile,
    interface: iface,
    gateway: { publicKey: gatewayPublicKey, endpoint: endpoint.text, presharedKey, presharedKeyFile },
    persistentKeepalive: raw.persistentKeepalive ?? CLIENT_DEFAULTS.persistentKeepalive,
    routes: listed.filter((c) => c !== everything),
    defaultRoute: listed.includes(everything),
    dns: raw.dns ?? CLIENT_DEFAULTS.dns,
    lan,
    killSwitch,
    router,
  };
}
