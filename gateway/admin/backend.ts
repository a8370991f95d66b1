// What the admin API, the web page and the metrics ask of the running
// gateway: the AdminBackend. The daemon implements it over its live state
// (clients, device, shaper, leases, state db); tests implement it in memory.
//
// Nothing here ever carries a private key, with one exception: the wg-quick
// config returned once by createClient({ generateKey: true }).
//
// Clients have one owner each (docs/admin-api.md): `file` clients are the
// configuration file's (the API may only disable and enable them, an override
// kept in the state db), `api` clients live in the state db and every field
// can change.

import { CodedErrorAbout } from '../../shared/errors.js';
import type { UsageRow } from '../traffic/usage.js';
import type { UsageEntry } from '../usage-report.js';

export type ClientOrigin = 'file' | 'api';

export interface ClientView {
  name: string;
  /** Base64, as `wg` shows it. */
  publicKey: string;
  origin: ClientOrigin;
  enabled: boolean;
  /** The policy's name ('unlimited' included). */
  policy: string;
  /** The share under congestion in force (the client's override, else the policy's). */
  weight: number;
  notes: string;
  /** Its addresses: IPv4 text, IPv6 as a prefix; null when the pool had none left. */
  lease: { ipv4: string; ipv6: string } | null;
  /** Where its latest authenticated packet came from, or null. */
  endpoint: string | null;
  /** ISO 8601, or null: no handshake since the gateway started. */
  lastHandshake: string | null;
  /** WireGuard bytes on the wire since the gateway started. */
  transfer: { rxBytes: number; txBytes: number };
  /** Inner bits per second over the last few seconds: down = to the client. */
  rates: { downBps: number; upBps: number };
  usage: UsageEntry;
  /** ISO 8601 for API clients; null for file clients. */
  createdAt: string | null;
}

export interface ClientCreate {
  name: string;
  /** The client's own key, base64; or generateKey. */
  publicKey?: string;
  /** The gateway makes the key pair (and a preshared key) and returns the config once. */
  generateKey?: boolean;
  policy?: string;
  /** null or absent: the policy's weight. */
  weight?: number | null;
  notes?: string;
  enabled?: boolean;
}

export interface ClientPatch {
  name?: string;
  enabled?: boolean;
  policy?: string;
  weight?: number | null;
  notes?: string;
}

export interface LeaseView {
  publicKey: string;
  /** The client holding it, or null: a reservation of a removed client. */
  name: string | null;
  ipv4: string;
  ipv6: string;
  assignedAt: string;
  /** Held by a configured client (file or API), so it cannot be released. */
  configured: boolean;
}

export interface PoolUse {
  prefix: string;
  used: number;
  /** Leases the pool can hold (capped at 2^53 - 1). */
  size: number;
}

export interface GatewayView {
  interface: string;
  publicKey: string;
  listenPort: number;
  uplink: { name: string; up: boolean };
  version: string;
  startedAt: string;
  /** Peers with a current session. */
  sessions: number;
  handshakes: { completed: number; failed: number };
  pools: { ipv4: PoolUse; ipv6: PoolUse };
  clients: { total: number; enabled: number };
}

export const ADMIN_ERROR_CODES = [
  'not-found', // no such client or lease
  'duplicate', // a name or key another client has
  'file-managed', // a change the configuration file owns
  'invalid', // a value the gateway refuses (a bad key, name, weight)
  'unknown-policy', // a policy name not in the configuration
  'pool-exhausted', // no address left for a new client
  'in-use', // releasing the lease of a configured client
  'unauthorized', // no or a wrong token
  'internal', // anything else (logged; the message says no more)
] as const;
export type AdminErrorCode = (typeof ADMIN_ERROR_CODES)[number];

export class AdminError extends CodedErrorAbout<AdminErrorCode> {
  override readonly name = 'AdminError';
  /** The request field at fault, when there is one. */
  get field(): string | undefined {
    return this.about;
  }
}

export interface AdminBackend {
  listClients(): ClientView[];
  /** AdminError not-found. */
  getClient(name: string): ClientView;
  /** `config` is the wg-quick file with the private key, only with generateKey, only now. */
  createClient(create: ClientCreate): { client: ClientView; config: string | null };
  updateClient(name: string, patch: ClientPatch): ClientView;
  removeClient(name: string): void;
  /** The client's wg-quick config with its PrivateKey line left for the user (commented out). */
  clientConfig(name: string): string;
  listLeases(): LeaseView[];
  /** AdminError in-use for a configured client's lease, not-found for none. */
  releaseLease(publicKey: string): void;
  usage(name: string): { current: UsageEntry; history: UsageRow[] };
  status(): GatewayView;
  /** Policy names a client may have ('unlimited' first). */
  policies(): string[];
}

/** One client's figures for /metrics. Counters are all-time: every stored period plus this one. */
export interface ClientMetrics {
  name: string;
  enabled: boolean;
  /** Inner bytes and packets since the client was first counted (never restart at 0). */
  totals: { downBytes: number; upBytes: number; downPackets: number; upPackets: number };
  quota: { limitBytes: number | null; usedBytes: number; state: 'ok' | 'throttled' | 'blocked' };
  /** Unix seconds, or null. */
  lastHandshake: number | null;
  drops: { quota: number; queue: number };
}

/** The gateway-wide figures for /metrics. */
export interface GatewayMetrics {
  version: string;
  handshakes: { completed: number; failed: number };
  /** The device's drop counters by coded reason (shared/wireguard/errors.ts). */
  drops: Record<string, number>;
  sessions: number;
  pools: { ipv4: PoolUse; ipv6: PoolUse };
  uplinkUp: boolean;
}

/** What /metrics reads at each scrape (gateway/admin/metrics.ts). */
export interface MetricsSource {
  clientMetrics(): ClientMetrics[];
  gatewayMetrics(): GatewayMetrics;
}
