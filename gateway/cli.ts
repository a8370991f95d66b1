// `meshgate gateway …`: run the daemon, or export a stock client's config.
//
//   meshgate gateway --config FILE                         run in the foreground
//   meshgate gateway export-client NAME --config FILE      print a wg-quick file for a stock WireGuard client

import type { CommandRunner } from '../shared/host/command.js';
import type { Logger } from '../shared/log.js';
import { formatKey } from '../shared/wireguard/keys.js';
import { publicKeyOf } from '../shared/wireguard/crypto.js';
import { loadGatewayConfig } from './config.js';
import { renderClientConfig } from './export.js';
import { leasesFor, poolsOf, startGateway } from './gateway.js';
import { Store } from './store.js';
import { untilStopSignal } from '../shared/cli/signals.js';

export class GatewayUsageError extends Error {
  override readonly name = 'GatewayUsageError';
}

export const GATEWAY_USAGE = `usage: meshgate gateway --config FILE
       meshgate gateway export-client NAME --config FILE`;

export async function runGatewayDaemon(configFile: string, runner: CommandRunner, log: Logger): Promise<number> {
  const gateway = await startGateway(configFile, runner, log);
  await untilStopSignal(log);
  await gateway.close();
  log.info({ event: 'stopped' }, 'gateway stopped; leases kept');
  return 0;
}

/** The wg-quick file of one client: its lease from the state db (assigned now if it has none yet). */
export function exportClient(configFile: string, name: string): string {
  const config = loadGatewayConfig(configFile);
  const client = config.clients.find((c) => c.name === name);
  if (client === undefined) throw new GatewayUsageError(`${configFile}: no client named "${name}"`);
  if (client.privateKey === null) {
    throw new GatewayUsageError(
      `${configFile}: client "${name}" has no privateKeyFile; export-client needs the client's private key to write a complete config`,
    );
  }
  if (config.endpoint === null)
    throw new GatewayUsageError(`${configFile}: endpoint: needed by export-client (how clients reach this gateway)`);
  const store = Store.open(config.stateDir);
  try {
    const pools = poolsOf(config, store);
    const plan = leasesFor(config, store, pools, Date.now());
    const lease = plan.leases.find((l) => l.publicKey === formatKey(client.publicKey));
    if (lease === undefined)
      throw new GatewayUsageError(`${configFile}: client "${name}" has no lease: the pool is exhausted`);
    return renderClientConfig({
      clientPrivateKey: client.privateKey,
      lease,
      gatewayPublicKey: publicKeyOf(config.privateKey),
      ...(client.presharedKey ? { presharedKey: client.presharedKey } : {}),
      endpoint: config.endpoint,
      dns: config.dns,
      mtu: config.mtu,
    });
  } finally {
    store.close();
  }
}
