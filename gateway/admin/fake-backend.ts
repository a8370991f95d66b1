// An in-memory AdminBackend for tests of the admin API, the CLI and the web
// page. It keeps the rules of the real one (gateway/admin/registry.ts) that a
// caller can see: names and keys unique across file and API clients, file
// clients may only be disabled and enabled, unknown policies and clients
// refused, a removed client's lease stays reserved until released, and the
// private key of a generated client appears once, in createClient's config.
//
// Addresses come from documentation ranges; keys are made fresh per instance.

import { randomBytes } from 'node:crypto';
import {
  generatePresharedKeyText,
  generatePrivateKeyText,
  parseKey,
  publicKeyText,
} from '../../shared/wireguard/keys.js';
import { WEIGHT_MAX, WEIGHT_MIN } from '../traffic/policy.js';
import type { UsageRow } from '../traffic/usage.js';
import type { UsageEntry } from '../usage-report.js';
import {
  AdminError,
  type AdminBackend,
  type ClientCreate,
  type ClientPatch,
  type ClientView,
  type GatewayView,
  type LeaseView,
} from './backend.js';

const CLIENT_NAME = /^[A-Za-z0-9._-]{1,32}$/;
const UNLIMITED = 'unlimited';
const IPV4_PREFIX = '198.51.100.';
const IPV6_PREFIX = '2001:db8:100:';
const GATEWAY_ENDPOINT = '203.0.113.1:51820';
const DAY_MS = 86_400_000;

export interface FakePolicy {
  weight: number;
  /** Bytes per period, or null. */
  quota: number | null;
}

export interface FakeFileClient {
  name: string;
  publicKey: string;
  policy?: string;
}

export interface FakeBackendOptions {
  /** Policies besides 'unlimited' (weight 1, no quota). */
  policies?: Record<string, FakePolicy>;
  /** Clients of the configuration file: `fakeFileClients(n)` makes some. */
  fileClients?: FakeFileClient[];
  /** Addresses the pool holds (default 200). */
  poolSize?: number;
  /** Wall clock, epoch ms. */
  now?: () => number;
}

interface FakeClient {
  name: string;
  publicKey: string;
  origin: 'file' | 'api';
  enabled: boolean;
  policy: string;
  weight: number | null;
  notes: string;
  createdAt: number | null;
  hasPresharedKey: boolean;
  download: number;
  upload: number;
}

interface FakeLease {
  publicKey: string;
  index: number;
  assignedAt: number;
}

export const DEFAULT_FAKE_POLICIES: Readonly<Record<string, FakePolicy>> = {
  basic: { weight: 2, quota: 50 * 2 ** 30 },
  small: { weight: 1, quota: 5 * 2 ** 30 },
};

/** `count` file clients named file-1… with fresh public keys. */
export function fakeFileClients(count: number, policy = 'basic'): FakeFileClient[] {
  return Array.from({ length: count }, (_, i) => ({ name: `file-${i + 1}`, publicKey: freshPublicKey(), policy }));
}

export function freshPublicKey(): string {
  return publicKeyText(generatePrivateKeyText(randomBytes));
}

export class FakeAdminBackend implements AdminBackend {
  readonly gatewayPublicKey = freshPublicKey();
  /** Every private and preshared key this backend made: tests look for them in responses. */
  readonly secrets: string[] = [];
  private readonly clients = new Map<string, FakeClient>();
  private readonly leases = new Map<string, FakeLease>();
  private readonly policyTable: Record<string, FakePolicy>;
  private readonly poolSize: number;
  private readonly now: () => number;
  private readonly startedAt: number;
  private nextLease = 1;

  constructor(options: FakeBackendOptions = {}) {
    this.policyTable = { [UNLIMITED]: { weight: 1, quota: null }, ...(options.policies ?? DEFAULT_FAKE_POLICIES) };
    this.poolSize = options.poolSize ?? 200;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    for (const f of options.fileClients ?? []) {
      const policy = f.policy ?? UNLIMITED;
      if (!(policy in this.policyTable)) throw new Error(`fake backend: file client ${f.name} has unknown policy`);
      this.add({ ...this.blank(f.name, f.publicKey, 'file'), policy });
    }
  }

  listClients(): ClientView[] {
    return [...this.clients.values()].sort((a, b) => a.name.localeCompare(b.name)).map((c) => this.view(c));
  }

  getClient(name: string): ClientView {
    return this.view(this.find(name));
  }

  createClient(create: ClientCreate): { client: ClientView; config: string | null } {
    checkName(create.name);
    if (this.clients.has(create.name)) throw new AdminError('duplicate', 'a client has this name', 'name');
    if ((create.publicKey === undefined) === (create.generateKey !== true)) {
      throw new AdminError('invalid', 'give either publicKey or generateKey: true', 'publicKey');
    }
    const policy = create.policy ?? UNLIMITED;
    this.checkPolicy(policy);
    checkWeight(create.weight);
    let privateKey: string | null = null;
    let presharedKey: string | null = null;
    let publicKey: string;
    if (create.publicKey !== undefined) {
      checkKey(create.publicKey);
      publicKey = create.publicKey;
      if (this.byKey(publicKey)) throw new AdminError('duplicate', 'a client has this public key', 'publicKey');
    } else {
      privateKey = generatePrivateKeyText(randomBytes);
      presharedKey = generatePresharedKeyText(randomBytes);
      publicKey = publicKeyText(privateKey);
      this.secrets.push(privateKey, presharedKey);
    }
    if (!this.leases.has(publicKey) && this.leases.size >= this.poolSize) {
      throw new AdminError('pool-exhausted', 'no address left in the pool');
    }
    const client = this.add({
      ...this.blank(create.name, publicKey, 'api'),
      policy,
      weight: create.weight ?? null,
      notes: create.notes ?? '',
      enabled: create.enabled ?? true,
      createdAt: this.now(),
      hasPresharedKey: presharedKey !== null,
    });
    const config = privateKey === null ? null : this.config(client, privateKey, presharedKey);
    return { client: this.view(client), config };
  }

  updateClient(name: string, patch: ClientPatch): ClientView {
    const client = this.find(name);
    const fields = Object.keys(patch).filter((k) => patch[k as keyof ClientPatch] !== undefined);
    const other = fields.find((k) => k !== 'enabled');
    if (client.origin === 'file' && other !== undefined) {
      throw new AdminError('file-managed', 'the configuration file owns this client: only enable and disable', other);
    }
    if (patch.name !== undefined && patch.name !== name) {
      checkName(patch.name);
      if (this.clients.has(patch.name)) throw new AdminError('duplicate', 'a client has this name', 'name');
    }
    if (patch.policy !== undefined) this.checkPolicy(patch.policy);
    checkWeight(patch.weight);
    // Checked in full before anything changes.
    if (patch.name !== undefined && patch.name !== name) {
      this.clients.delete(name);
      client.name = patch.name;
      this.clients.set(client.name, client);
    }
    if (patch.enabled !== undefined) client.enabled = patch.enabled;
    if (patch.policy !== undefined) client.policy = patch.policy;
    if (patch.weight !== undefined) client.weight = patch.weight;
    if (patch.notes !== undefined) client.notes = patch.notes;
    return this.view(client);
  }

  removeClient(name: string): void {
    const client = this.find(name);
    if (client.origin === 'file') throw new AdminError('file-managed', 'the configuration file owns this client');
    this.clients.delete(name);
  }

  clientConfig(name: string): string {
    return this.config(this.find(name), null, null);
  }

  listLeases(): LeaseView[] {
    return [...this.leases.values()].map((l) => {
      const holder = this.byKey(l.publicKey);
      return {
        publicKey: l.publicKey,
        name: holder?.name ?? null,
        ...addresses(l.index),
        assignedAt: new Date(l.assignedAt).toISOString(),
        configured: holder !== undefined,
      };
    });
  }

  releaseLease(publicKey: string): void {
    if (!this.leases.has(publicKey)) throw new AdminError('not-found', 'no lease for this key', 'publicKey');
    if (this.byKey(publicKey)) throw new AdminError('in-use', 'a configured client holds this lease', 'publicKey');
    this.leases.delete(publicKey);
  }

  usage(name: string): { current: UsageEntry; history: UsageRow[] } {
    const client = this.find(name);
    const start = this.periodStart();
    const history: UsageRow[] = [
      {
        publicKey: client.publicKey,
        periodStart: start - 30 * DAY_MS,
        periodEnd: start,
        updatedAt: start,
        downBytes: 3000,
        upBytes: 1000,
        downPackets: 3,
        upPackets: 1,
      },
    ];
    return { current: this.usageEntry(client), history };
  }

  status(): GatewayView {
    const all = [...this.clients.values()];
    return {
      interface: 'mgfake0',
      publicKey: this.gatewayPublicKey,
      listenPort: 51820,
      uplink: { name: 'eth0', up: true },
      version: '0.1.0',
      startedAt: new Date(this.startedAt).toISOString(),
      sessions: 0,
      handshakes: { completed: 0, failed: 0 },
      pools: {
        ipv4: { prefix: `${IPV4_PREFIX}0/24`, used: this.leases.size, size: this.poolSize },
        ipv6: { prefix: `${IPV6_PREFIX}:/48`, used: this.leases.size, size: this.poolSize },
      },
      clients: { total: all.length, enabled: all.filter((c) => c.enabled).length },
    };
  }

  policies(): string[] {
    return [UNLIMITED, ...Object.keys(this.policyTable).filter((p) => p !== UNLIMITED)];
  }

  /** Counts traffic for a client (tests of usage bars and reports). */
  addTraffic(name: string, download: number, upload: number): void {
    const client = this.find(name);
    client.download += download;
    client.upload += upload;
  }

  private blank(name: string, publicKey: string, origin: 'file' | 'api'): FakeClient {
    return {
      name,
      publicKey,
      origin,
      enabled: true,
      policy: UNLIMITED,
      weight: null,
      notes: '',
      createdAt: null,
      hasPresharedKey: false,
      download: 0,
      upload: 0,
    };
  }

  private add(client: FakeClient): FakeClient {
    this.clients.set(client.name, client);
    if (!this.leases.has(client.publicKey)) {
      this.leases.set(client.publicKey, {
        publicKey: client.publicKey,
        index: this.nextLease++,
        assignedAt: this.now(),
      });
    }
    return client;
  }

  private find(name: string): FakeClient {
    const client = this.clients.get(name);
    if (client === undefined) throw new AdminError('not-found', 'no client by this name', 'name');
    return client;
  }

  private byKey(publicKey: string): FakeClient | undefined {
    for (const c of this.clients.values()) if (c.publicKey === publicKey) return c;
    return undefined;
  }

  private checkPolicy(policy: string): void {
    if (!(policy in this.policyTable)) throw new AdminError('unknown-policy', 'no policy by this name', 'policy');
  }

  private view(c: FakeClient): ClientView {
    const lease = this.leases.get(c.publicKey);
    return {
      name: c.name,
      publicKey: c.publicKey,
      origin: c.origin,
      enabled: c.enabled,
      policy: c.policy,
      weight: c.weight ?? this.policyTable[c.policy]!.weight,
      notes: c.notes,
      lease: lease ? addresses(lease.index) : null,
      endpoint: null,
      lastHandshake: null,
      transfer: { rxBytes: c.upload, txBytes: c.download },
      rates: { downBps: 0, upBps: 0 },
      usage: this.usageEntry(c),
      createdAt: c.createdAt === null ? null : new Date(c.createdAt).toISOString(),
    };
  }

  private usageEntry(c: FakeClient): UsageEntry {
    const quota = this.policyTable[c.policy]!.quota;
    const used = quota === null ? 0 : c.download + c.upload;
    const start = this.periodStart();
    return {
      name: c.name,
      publicKey: c.publicKey,
      policy: c.policy,
      state: quota !== null && used >= quota ? 'blocked' : 'ok',
      periodStart: new Date(start).toISOString(),
      periodEnd: new Date(start + 30 * DAY_MS).toISOString(),
      download: { bytes: c.download, packets: Math.ceil(c.download / 1000) },
      upload: { bytes: c.upload, packets: Math.ceil(c.upload / 1000) },
      used,
      quota,
      limits: { down: null, up: null },
      drops: { quota: 0, queue: 0 },
    };
  }

  private periodStart(): number {
    const d = new Date(this.now());
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  }

  /** The wg-quick file; with `privateKey` null its PrivateKey line is left for the user. */
  private config(c: FakeClient, privateKey: string | null, presharedKey: string | null): string {
    const lease = this.leases.get(c.publicKey);
    const addr = lease ? addresses(lease.index) : null;
    return [
      '[Interface]',
      privateKey === null ? "# PrivateKey = <the client's private key>" : `PrivateKey = ${privateKey}`,
      ...(addr ? [`Address = ${addr.ipv4}/32, ${addr.ipv6}`] : []),
      '',
      '[Peer]',
      `PublicKey = ${this.gatewayPublicKey}`,
      ...(presharedKey !== null ? [`PresharedKey = ${presharedKey}`] : []),
      ...(presharedKey === null && c.hasPresharedKey ? ['# PresharedKey = <given once, at creation>'] : []),
      'AllowedIPs = 0.0.0.0/0, ::/0',
      `Endpoint = ${GATEWAY_ENDPOINT}`,
      '',
    ].join('\n');
  }
}

function addresses(index: number): { ipv4: string; ipv6: string } {
  return { ipv4: `${IPV4_PREFIX}${index}`, ipv6: `${IPV6_PREFIX}${index.toString(16)}::/64` };
}

function checkName(name: string): void {
  if (!CLIENT_NAME.test(name)) throw new AdminError('invalid', 'a name is 1-32 of A-Z a-z 0-9 . _ -', 'name');
}

function checkKey(key: string): void {
  try {
    parseKey(key, 'publicKey');
  } catch {
    throw new AdminError('invalid', 'publicKey is not a WireGuard key', 'publicKey');
  }
}

function checkWeight(weight: number | null | undefined): void {
  if (weight === undefined || weight === null) return;
  if (!Number.isInteger(weight) || weight < WEIGHT_MIN || weight > WEIGHT_MAX) {
    throw new AdminError('invalid', `weight is an integer from ${WEIGHT_MIN} to ${WEIGHT_MAX}`, 'weight');
  }
}
