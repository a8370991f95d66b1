// The gateway's read-only checks against the host, after its configuration
// loaded and before anything changes (shared/host/probe.ts asks `ip -j`):
//
//   uplink exists → the TUN name is free or already a TUN device
//   → no pool overlaps an address or a route already on the host
//     (default routes and whatever is on the gateway's own TUN device aside)
//
// Every problem is a ConfigError with code 'host', naming the field.

import { ConfigError } from '../shared/config/config-error.js';
import type { CommandRunner } from '../shared/host/command.js';
import { isProbeFailure, probeAddresses, probeLink, probeRoutes } from '../shared/host/probe.js';
import { formatCidr, overlaps, type Cidr } from '../shared/net/address.js';
import type { GatewayConfig } from './config.js';

/**
 * Checks the host for `config`; `ipv6Pool` supplies the pool the daemon
 * generated when the configuration has none. Throws ConfigError (code 'host').
 */
export async function checkHost(
  config: GatewayConfig,
  runner: CommandRunner,
  options: { ipv6Pool?: Cidr } = {},
): Promise<void> {
  const fail = (field: string, problem: string): never => {
    throw new ConfigError(config.file, field, 'host', problem);
  };

  const uplink = await probeLink(runner, config.uplink);
  if (isProbeFailure(uplink)) fail('uplink', `cannot inspect "${config.uplink}": ${uplink.error}`);
  if (uplink === null) fail('uplink', `no interface "${config.uplink}" on this host`);

  const tun = await probeLink(runner, config.interface, { details: true });
  if (isProbeFailure(tun)) fail('interface', `cannot inspect "${config.interface}": ${tun.error}`);
  else if (tun !== null && tun.kind !== 'tun') {
    fail(
      'interface',
      `"${config.interface}" is already a ${tun.kind ?? tun.linkType ?? 'network'} device on this host, not a TUN device; choose another name`,
    );
  }

  const pools: { field: string; cidr: Cidr }[] = [{ field: 'ipv4Pool', cidr: config.ipv4Pool }];
  const ipv6Pool = config.ipv6.pool ?? options.ipv6Pool ?? null;
  if (ipv6Pool !== null) pools.push({ field: 'ipv6.pool', cidr: ipv6Pool });

  const addresses = await probeAddresses(runner, config.interface);
  if (isProbeFailure(addresses)) return fail('', `cannot list the host's addresses: ${addresses.error}`);
  for (const a of addresses) {
    for (const pool of pools) {
      if (overlaps(a.prefix, pool.cidr)) {
        fail(
          pool.field,
          `${formatCidr(pool.cidr)} overlaps the address ${a.text} of ${a.ifname ?? '?'} already on this host`,
        );
      }
    }
  }

  for (const family of [4, 6] as const) {
    const routes = await probeRoutes(runner, family, config.interface);
    if (isProbeFailure(routes)) return fail('', `cannot list the host's routes: ${routes.error}`);
    for (const route of routes) {
      for (const pool of pools) {
        if (overlaps(route.prefix, pool.cidr)) {
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
