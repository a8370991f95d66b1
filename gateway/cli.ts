// `meshgate gateway …`: run the daemon, export a stock client's config, and
// look after the leases kept in the state database.
//
//   meshgate gateway --config FILE                         run in the foreground
//   meshgate gateway export-client NAME --config FILE      print a wg-quick file for a stock WireGuard client
//   meshgate gateway leases --config FILE [--json]         list leases and reservations
//   meshgate gateway release KEY --config FILE             free the reservation of a key no longer configured
//   meshgate gateway usage --config FILE [--json]          each client's usage, quota state and period end

import type { CommandRunner } from '../shared/host/command.js';
import type { Logger } from '../shared/log.js';
import { existsSync } from 'node:fs';
import { controlPath, queryControl } from '../shared/control/socket.js';
import { formatCidr, formatIp } from '../shared/net/address.js';
import { formatKey, parseKey } from '../shared/wireguard/keys.js';
import { show } from '../shared/config/redact.js';
import { wipe } from '../shared/wireguard/crypto.js';
import { loadGatewayConfig, readClientPrivateKey } from './config.js';
import { renderClientConfig } from './export.js';
import { startGateway, type GatewayStatus } from './gateway.js';
import { leasesFor, poolsOf } from './lease-plan.js';
import type { Lease } from './leases.js';
import { Store } from './store.js';
import { renderUsage, storedUsageReport, type UsageReport } from './usage-report.js';
import { runUntilStopped } from '../shared/cli/signals.js';
import { UsageError } from '../shared/cli/usage-error.js';

/** A request the gateway's state refuses (no such client, a lease in use): exit 2, as every UsageError. */
export class GatewayUsageError extends UsageError {
  override readonly name: string = 'GatewayUsageError';
}

export async function runGatewayDaemon(configFile: string, runner: CommandRunner, log: Logger): Promise<number> {
  const gateway = await startGateway(configFile, runner, log);
  return runUntilStopped(log, gateway, { fields: {}, message: 'gateway stopped; leases kept' });
}

/** The wg-quick file of one client: its lease from the state db (assigned now if it has none yet). */
export function exportClient(configFile: string, name: string): string {
  const config = loadGatewayConfig(configFile);
  const client = config.clients.find((c) => c.name === name);
  if (client === undefined) throw new GatewayUsageError('refused', `${configFile}: no client named ${show(name)}`);
  if (client.privateKeyFile === null) {
    throw new GatewayUsageError(
      'refused',
      `${configFile}: client "${name}" has no privateKeyFile; export-client needs the client's private key to write a complete config`,
    );
  }
  if (config.endpoint === null)
    throw new GatewayUsageError(
      'refused',
      `${configFile}: endpoint: needed by export-client (how clients reach this gateway)`,
    );
  // The only place a stock client's private key is read: here, on demand, and wiped once rendered.
  const clientPrivateKey = readClientPrivateKey(config, client);
  const store = Store.open(config.stateDir);
  try {
    const pools = poolsOf(config, store);
    const plan = leasesFor(config, store, pools, Date.now());
    const lease = plan.leases.find((l) => l.publicKey === formatKey(client.publicKey));
    if (lease === undefined)
      throw new GatewayUsageError('refused', `${configFile}: client "${name}" has no lease: the pool is exhausted`);
    return renderClientConfig({
      clientPrivateKey,
      lease,
      gatewayPublicKey: config.publicKey,
      ...(client.presharedKey ? { presharedKey: client.presharedKey } : {}),
      endpoint: config.endpoint,
      dns: config.dns,
      mtu: config.mtu,
    });
  } finally {
    wipe(clientPrivateKey, config.privateKey, ...config.clients.map((c) => c.presharedKey));
    store.close();
  }
}

export interface LeaseRow {
  /** The configured client's name; null for a reservation (a key no longer in the config). */
  name: string | null;
  publicKey: string;
  ipv4: string;
  ipv6: string;
  /** When the key got these addresses, ISO 8601. */
  assignedAt: string;
}

function rowOf(lease: Lease, names: Map<string, string>): LeaseRow {
  return {
    name: names.get(lease.publicKey) ?? null,
    publicKey: lease.publicKey,
    ipv4: formatIp(lease.ipv4),
    ipv6: formatCidr({ family: 6, address: lease.ipv6, prefixLength: lease.ipv6PrefixLength }),
    assignedAt: new Date(lease.assignedAt).toISOString(),
  };
}

/**
 * Every lease and reservation in the state database, as they stand (nothing is
 * planned or written): configured clients by name, reservations marked.
 */
export function listLeases(configFile: string, json: boolean): string {
  const config = loadGatewayConfig(configFile);
  const names = new Map(config.clients.map((c) => [formatKey(c.publicKey), c.name]));
  const store = Store.open(config.stateDir);
  let rows: LeaseRow[];
  try {
    rows = store.leases().map((l) => rowOf(l, names));
  } finally {
    store.close();
  }
  if (json) return JSON.stringify(rows) + '\n';
  if (rows.length === 0) return 'no leases\n';
  const table = [
    ['client', 'public key', 'ipv4', 'ipv6', 'since'],
    ...rows.map((r) => [r.name ?? '(reserved)', r.publicKey, r.ipv4, r.ipv6, r.assignedAt]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return (
    table
      .map((row) =>
        row
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** Whether the gateway of this config is running and serves `publicKey` (false when it is not running). */
async function servedByRunningGateway(iface: string, publicKey: string): Promise<boolean> {
  let status: GatewayStatus;
  try {
    status = await queryControl<GatewayStatus>(iface, 'status', 1000);
  } catch {
    return false; // no gateway answers on this interface's control socket
  }
  return status.peers.some((p) => p.publicKey === publicKey);
}

/**
 * Frees the addresses reserved for a key that is no longer among the
 * configured clients (a removed client keeps its lease as a reservation until
 * this). A configured client's lease is not released: it would only be handed
 * out again at the next start. Returns the line to print.
 */
export async function releaseLease(configFile: string, keyText: string): Promise<string> {
  const config = loadGatewayConfig(configFile);
  let publicKey: string;
  try {
    publicKey = formatKey(parseKey(keyText, 'public key'));
  } catch {
    throw new GatewayUsageError('argument', `${show(keyText)} is not a WireGuard public key (44 characters of base64)`);
  }
  const client = config.clients.find((c) => formatKey(c.publicKey) === publicKey);
  if (client !== undefined)
    throw new GatewayUsageError(
      'refused',
      `${configFile}: ${publicKey} is client "${client.name}"; remove it from clients (and restart the gateway) before releasing its lease`,
    );
  if (await servedByRunningGateway(config.interface, publicKey))
    throw new GatewayUsageError(
      'refused',
      `the running gateway (${config.interface}) still serves ${publicKey}: restart it with ${configFile} first`,
    );
  const store = Store.open(config.stateDir);
  try {
    const lease = store.leases().find((l) => l.publicKey === publicKey);
    if (lease === undefined || !store.releaseLease(publicKey))
      throw new GatewayUsageError('refused', `${config.stateDir}: ${publicKey} holds no lease`);
    const row = rowOf(lease, new Map());
    return `released ${row.ipv4} and ${row.ipv6} of ${publicKey}\n`;
  } finally {
    store.close();
  }
}

const USAGE_QUERY_TIMEOUT_MS = 2_000;
const STORED_NOTE = '(from the state db: the gateway is not running; figures as of its last checkpoint)\n';

/** The running daemon's usage report, or null when no daemon answers on `iface`'s control socket. */
async function liveUsage(iface: string): Promise<UsageReport | null> {
  if (!existsSync(controlPath(iface))) return null;
  try {
    return await queryControl<UsageReport>(iface, 'usage', USAGE_QUERY_TIMEOUT_MS);
  } catch {
    return null; // a stale socket of a killed daemon, or one that does not answer
  }
}

/**
 * Each configured client's usage: the running daemon's live figures (control
 * op 'usage'), or, when no daemon answers on the config's interface, the state
 * db's figures of the current period with the state computed from the
 * configured policy. `live` asks the daemon (replaced in tests).
 */
export async function gatewayUsage(
  configFile: string,
  json: boolean,
  live: (iface: string) => Promise<UsageReport | null> = liveUsage,
): Promise<string> {
  const config = loadGatewayConfig(configFile);
  let report = await live(config.interface);
  const stored = report === null;
  if (report === null) {
    const store = Store.open(config.stateDir);
    try {
      report = storedUsageReport(config, store, Date.now());
    } finally {
      store.close();
    }
  }
  if (json) return JSON.stringify(report) + '\n';
  if (report.clients.length === 0) return 'no clients configured\n';
  return renderUsage(report.clients) + (stored ? STORED_NOTE : '');
}
