// The gateway's live set of clients: the configuration file's and those made
// through the admin API, with their leases, peers, usage and shaping. It is
// the AdminBackend and the MetricsSource of the running daemon.
//
//   load:    file clients (config) + API clients (state db) + file clients'
//            enable switches → one list, names and keys unique across both
//            → leases planned for all (sticky per key) → every enabled client
//            attached: a device peer (allowed IPs = its lease) and a shaped
//            client (its usage resumed from the db)
//   change:  create / update / enable / disable / remove → validated first,
//            then the state db, then leases re-planned, then the data plane
//            (attach / detach) — at once, no restart
//   read:    views, leases, usage, status, metrics
//
// Ownership (docs/admin-api.md): a file client is the file's; only its enable
// switch is the API's. Disabling detaches the peer: its sessions are wiped
// and its next packet is unknown to the device; its lease stays. Usage of a
// detached client is saved at once and continues when it comes back.

import { parseEndpoint } from '../../shared/io/endpoint.js';
import type { Logger } from '../../shared/log.js';
import { formatCidr, formatIp } from '../../shared/net/address.js';
import {
  generatePrivateKey,
  preparePrivateKey,
  publicKeyOf,
  releasePrivateKey,
  wipe,
  type RandomBytes,
} from '../../shared/wireguard/crypto.js';
import type { Device } from '../../shared/wireguard/device.js';
import { DropReasons } from '../../shared/wireguard/errors.js';
import { formatKey } from '../../shared/wireguard/keys.js';
import type { GatewayConfig } from '../config.js';
import { planLeases, type Lease, type Pools } from '../leases.js';
import type { Store } from '../store.js';
import { UNLIMITED, UNLIMITED_NAME, type TrafficPolicy } from '../traffic/policy.js';
import type { ShapedClient, TrafficControl } from '../traffic/traffic.js';
import { ClientUsage } from '../traffic/usage.js';
import {
  AdminError,
  type AdminBackend,
  type ClientCreate,
  type ClientMetrics,
  type ClientPatch,
  type ClientView,
  type GatewayMetrics,
  type GatewayView,
  type LeaseView,
  type MetricsSource,
} from './backend.js';
import { checkNotes, checkPublicKey, checkWeight, CLIENT_NAME } from './client-input.js';
import {
  allowedIpsOf,
  allTimeOf,
  apiClientSettings,
  byName,
  configOf,
  entryOf,
  fileClientSettings,
  pastTotals,
  RATE_SAMPLES,
  refuseFileConflicts,
  rowOf,
  sameLease,
  viewOf,
  type ClientRecord,
} from './client-record.js';
import { ClientTable } from './client-table.js';
import { failedHandshakes, poolUse, sessions } from './gateway-figures.js';

type Client = ClientRecord;

export interface RegistryOptions {
  config: GatewayConfig;
  store: Store;
  pools: Pools;
  device: Device;
  traffic: TrafficControl;
  random: RandomBytes;
  log: Logger;
  version: string;
  listenPort: () => number;
  /** Whether the uplink is up (read at each status and scrape). */
  uplinkUp: () => boolean;
  wallNow?: () => number;
  monoNow?: () => number;
}

export class ClientRegistry implements AdminBackend, MetricsSource {
  /** Handshakes completed since start (the daemon's device event calls handshakeCompleted()). */
  private handshakes = 0;
  private readonly byName = new Map<string, Client>();
  private readonly byKey = new Map<string, Client>();
  private readonly table: ClientTable;
  private readonly wall: () => number;
  private readonly mono: () => number;
  private readonly startedAt: number;
  private readonly policyByName = new Map<string, TrafficPolicy>();
  /** Last known endpoints from the state db, for clients attached later. */
  private readonly endpoints: Map<string, string>;

  constructor(private readonly o: RegistryOptions) {
    this.table = new ClientTable(o.store);
    this.wall = o.wallNow ?? Date.now;
    this.mono = o.monoNow ?? (() => performance.now());
    this.startedAt = this.wall();
    this.policyByName.set(UNLIMITED_NAME, UNLIMITED);
    for (const p of o.config.policies) this.policyByName.set(p.name, p);
    this.endpoints = o.store.endpoints();
  }

  /**
   * Reads both kinds of clients, plans every lease and attaches the enabled
   * clients. Throws when
   * the file names a client the API made (a ConfigError, before any host change).
   * Returns the keys of the clients left without a lease.
   */
  load(): { refused: string[] } {
    const { config } = this.o;
    const overrides = this.table.overrides();
    const now = this.wall();
    for (const c of config.clients) {
      const settings = fileClientSettings(c, overrides);
      this.put({ ...settings, ...this.fresh(settings.key, c.policy, now) });
    }
    const rows = this.table.all();
    refuseFileConflicts(config, rows);
    for (const row of rows) {
      const policy = this.policyByName.get(row.policy);
      if (policy === undefined) {
        this.o.log.warn(
          { event: 'client-policy-missing', client: row.name, policy: row.policy },
          `client ${row.name}'s policy is no longer configured; it is unlimited until changed`,
        );
      }
      const settings = apiClientSettings(row, policy === undefined ? UNLIMITED_NAME : row.policy);
      this.put({ ...settings, ...this.fresh(row.publicKey, this.withWeight(policy ?? UNLIMITED, row.weight), now) });
    }
    const fileKeys = new Set(config.clients.map((c) => formatKey(c.publicKey)));
    for (const key of overrides.keys()) if (!fileKeys.has(key)) this.table.setEnabled(key, true); // a removed file client
    const refused = this.plan();
    for (const c of this.byKey.values()) if (c.enabled) this.attach(c);
    return { refused };
  }

  /** The lease of a key for the lease server, or null (unknown, disabled, or none left). */
  leaseOf(key: string): Lease | null {
    const c = this.byKey.get(key);
    return c === undefined || !c.enabled ? null : c.lease;
  }

  /** Whether the key is a known client (for the lease server's refusal code). */
  has(key: string): boolean {
    return this.byKey.has(key);
  }

  isEnabled(key: string): boolean {
    return this.byKey.get(key)?.enabled === true;
  }

  /** The shaper's view of an attached client, for its quota state. */
  shapedOf(key: string): ShapedClient | undefined {
    return this.byKey.get(key)?.shaped ?? undefined;
  }

  nameOf(key: string): string | undefined {
    return this.byKey.get(key)?.name;
  }

  handshakeCompleted(): void {
    this.handshakes++;
  }

  /** Once a second: samples every client's counters for its live rates. */
  sample(): void {
    const t = this.wall();
    for (const c of this.byKey.values()) {
      const all = allTimeOf(c, () => this.o.store.usage(c.key));
      c.samples.push([t, all.downBytes, all.upBytes]);
      if (c.samples.length > RATE_SAMPLES + 1) c.samples.shift();
    }
  }

  // ------------------------------------------------------------ AdminBackend

  listClients(): ClientView[] {
    return [...this.byKey.values()].sort(byName).map((c) => viewOf(c));
  }

  getClient(name: string): ClientView {
    return viewOf(this.named(name));
  }

  createClient(create: ClientCreate): { client: ClientView; config: string | null } {
    const name = this.checkName(create.name, 'name');
    const policy = this.checkPolicy(create.policy ?? this.o.config.defaultPolicy, 'policy');
    const weight = checkWeight(create.weight ?? null);
    const notes = checkNotes(create.notes ?? '');
    let privateKey: Uint8Array | null = null;
    let publicKey: Uint8Array;
    let presharedKey: Uint8Array | null = null;
    if (create.generateKey === true) {
      if (create.publicKey !== undefined)
        throw new AdminError('invalid', 'give publicKey or generateKey, not both', 'publicKey');
      if (this.o.config.endpoint === null) {
        throw new AdminError(
          'invalid',
          'the gateway has no endpoint configured, so no client config can be written',
          'generateKey',
        );
      }
      privateKey = generatePrivateKey(this.o.random);
      const handle = preparePrivateKey(privateKey);
      publicKey = publicKeyOf(handle);
      releasePrivateKey(handle);
      presharedKey = Uint8Array.from(this.o.random(32));
    } else {
      if (create.publicKey === undefined)
        throw new AdminError('invalid', 'publicKey or generateKey is required', 'publicKey');
      publicKey = checkPublicKey(create.publicKey, this.o.config);
    }
    try {
      const key = formatKey(publicKey);
      if (this.byKey.has(key)) throw new AdminError('duplicate', `another client has this key`, 'publicKey');
      const now = this.wall();
      const c: Client = {
        name,
        key,
        publicKey,
        presharedKey,
        origin: 'api',
        enabled: create.enabled ?? true,
        policyName: policy.name,
        weight,
        notes,
        createdAt: now,
        ...this.fresh(key, this.withWeight(policy, weight), now),
      };
      this.put(c);
      if (this.plan().includes(key)) {
        this.forget(c);
        this.plan();
        throw new AdminError('pool-exhausted', 'no address is left in the pools for a new client');
      }
      this.table.insert(rowOf(c));
      if (c.enabled) this.attach(c);
      this.o.log.info({ event: 'client-added', client: name, origin: 'api' }, `client ${name} added`);
      const config = privateKey === null ? null : configOf(c, this.o.config, privateKey);
      return { client: viewOf(c), config };
    } finally {
      if (privateKey !== null) wipe(privateKey);
    }
  }

  updateClient(name: string, patch: ClientPatch): ClientView {
    const c = this.named(name);
    if (c.origin === 'file') {
      const other = (['name', 'policy', 'weight', 'notes'] as const).find((f) => patch[f] !== undefined);
      if (other !== undefined) {
        throw new AdminError(
          'file-managed',
          `client ${c.name} is defined in ${this.o.config.file}; change it there`,
          other,
        );
      }
    }
    const next = {
      name: patch.name === undefined || patch.name === c.name ? c.name : this.checkName(patch.name, 'name'),
      policyName: patch.policy === undefined ? c.policyName : this.checkPolicy(patch.policy, 'policy').name,
      weight: patch.weight === undefined ? c.weight : checkWeight(patch.weight),
      notes: patch.notes === undefined ? c.notes : checkNotes(patch.notes),
      enabled: patch.enabled ?? c.enabled,
    };
    if (c.origin === 'api') this.table.update(rowOf({ ...c, ...next }));
    else if (next.enabled !== c.enabled) this.table.setEnabled(c.key, next.enabled);
    if (next.name !== c.name) {
      this.byName.delete(c.name);
      this.byName.set(next.name, c);
    }
    const policyChanged = next.policyName !== c.policyName || next.weight !== c.weight;
    Object.assign(c, next);
    if (policyChanged) this.applyPolicy(c);
    if (c.enabled && c.peer === null) this.attach(c);
    if (!c.enabled && c.peer !== null) this.detach(c);
    this.o.log.info({ event: 'client-changed', client: c.name, enabled: c.enabled }, `client ${c.name} changed`);
    return viewOf(c);
  }

  removeClient(name: string): void {
    const c = this.named(name);
    if (c.origin === 'file') {
      throw new AdminError('file-managed', `client ${c.name} is defined in ${this.o.config.file}; remove it there`);
    }
    this.detach(c);
    this.o.store.saveUsage([c.usage.row(this.wall())]);
    this.table.remove(c.key);
    this.forget(c);
    this.o.log.info({ event: 'client-removed', client: c.name }, `client ${c.name} removed; its lease stays reserved`);
  }

  clientConfig(name: string): string {
    return configOf(this.named(name), this.o.config, null);
  }

  listLeases(): LeaseView[] {
    return this.o.store.leases().map((l) => ({
      publicKey: l.publicKey,
      name: this.byKey.get(l.publicKey)?.name ?? null,
      ipv4: formatIp(l.ipv4),
      ipv6: formatCidr({ family: 6, address: l.ipv6, prefixLength: l.ipv6PrefixLength }),
      assignedAt: new Date(l.assignedAt).toISOString(),
      configured: this.byKey.has(l.publicKey),
    }));
  }

  releaseLease(publicKey: string): void {
    const c = this.byKey.get(publicKey);
    if (c !== undefined)
      throw new AdminError('in-use', `the lease belongs to client ${c.name}; remove the client first`);
    if (!this.o.store.releaseLease(publicKey))
      throw new AdminError('not-found', 'no lease or reservation for this key');
  }

  usage(name: string): ReturnType<AdminBackend['usage']> {
    const c = this.named(name);
    return {
      current: entryOf(c),
      history: this.o.store.usage(c.key).filter((r) => r.periodStart !== c.usage.periodStart),
    };
  }

  status(): GatewayView {
    const clients = [...this.byKey.values()];
    return {
      interface: this.o.config.interface,
      publicKey: formatKey(this.o.config.publicKey),
      listenPort: this.o.listenPort(),
      uplink: { name: this.o.config.uplink, up: this.o.uplinkUp() },
      version: this.o.version,
      startedAt: new Date(this.startedAt).toISOString(),
      sessions: sessions(this.o.device),
      handshakes: { completed: this.handshakes, failed: failedHandshakes(this.o.device) },
      pools: poolUse(this.o.pools, this.o.store.leases().length),
      clients: { total: clients.length, enabled: clients.filter((c) => c.enabled).length },
    };
  }

  policies(): string[] {
    return [...this.policyByName.keys()];
  }

  // ------------------------------------------------------------ MetricsSource

  clientMetrics(): ClientMetrics[] {
    return [...this.byKey.values()].sort(byName).map((c) => {
      const shaped = c.shaped;
      return {
        name: c.name,
        enabled: c.enabled,
        totals: allTimeOf(c, () => this.o.store.usage(c.key)),
        quota: { limitBytes: c.usage.policy.quota?.bytes ?? null, usedBytes: c.usage.used, state: c.usage.state },
        lastHandshake:
          c.peer === null || c.peer.lastHandshakeWall === 0 ? null : Math.floor(c.peer.lastHandshakeWall / 1000),
        drops: { quota: shaped?.quotaDrops ?? 0, queue: shaped === null ? 0 : shaped.down.drops + shaped.up.drops },
      };
    });
  }

  gatewayMetrics(): GatewayMetrics {
    const drops: Record<string, number> = {};
    for (const reason of DropReasons) drops[reason] = this.o.device.drops[reason];
    return {
      version: this.o.version,
      handshakes: { completed: this.handshakes, failed: failedHandshakes(this.o.device) },
      drops,
      sessions: sessions(this.o.device),
      pools: poolUse(this.o.pools, this.o.store.leases().length),
      uplinkUp: this.o.uplinkUp(),
    };
  }

  // ----------------------------------------------------------------- helpers

  private put(c: Client): void {
    this.byName.set(c.name, c);
    this.byKey.set(c.key, c);
  }

  private forget(c: Client): void {
    this.byName.delete(c.name);
    this.byKey.delete(c.key);
  }

  private named(name: string): Client {
    const c = typeof name === 'string' ? this.byName.get(name) : undefined;
    if (c === undefined) throw new AdminError('not-found', 'no client by this name', 'name');
    return c;
  }

  /** A new client's usage (resumed from the db for the current period) and its earlier totals. */
  private fresh(
    key: string,
    policy: TrafficPolicy,
    now: number,
  ): Pick<Client, 'usage' | 'lease' | 'peer' | 'shaped' | 'past' | 'samples'> {
    const rows = this.o.store.usage(key);
    const usage = new ClientUsage(key, policy, this.o.config.accountingZone, now, rows[0]);
    return { usage, lease: null, peer: null, shaped: null, past: pastTotals(rows, usage.periodStart), samples: [] };
  }

  /** Plans every client's lease (sticky), saves them; returns the keys left without one. */
  private plan(): string[] {
    const wants = [...this.byKey.values()].map((c) => ({
      publicKey: c.key,
      ...(c.fixedIpv4 ? { fixedIpv4: c.fixedIpv4 } : {}),
      ...(c.fixedIpv6 ? { fixedIpv6: c.fixedIpv6 } : {}),
    }));
    const plan = planLeases(this.o.store.leases(), wants, this.o.pools, this.wall());
    this.o.store.saveLeases(plan.leases);
    const held = new Map(plan.leases.map((l) => [l.publicKey, l]));
    for (const c of this.byKey.values()) {
      const lease = held.get(c.key) ?? null;
      // A client attached without a lease (none was left) routes its new one at once.
      if (c.peer !== null && !sameLease(c.lease, lease)) this.o.device.setAllowedIps(c.peer, allowedIpsOf(lease));
      c.lease = lease;
    }
    return plan.refused.map((r) => r.publicKey);
  }

  /** Puts a client on the data plane: a device peer for its lease, shaped with its usage. */
  private attach(c: Client): void {
    const allowedIps = allowedIpsOf(c.lease);
    let endpoint = null;
    const last = this.endpoints.get(c.key);
    if (last !== undefined) {
      try {
        endpoint = parseEndpoint(last);
      } catch {
        endpoint = null;
      }
    }
    c.peer = this.o.device.addPeer({
      publicKey: c.publicKey,
      presharedKey: c.presharedKey ?? undefined,
      allowedIps,
      endpoint,
    });
    c.shaped = this.o.traffic.add(c.peer, c.usage, this.mono());
  }

  /** Takes a client off the data plane: sessions wiped, queues dropped, usage saved. */
  private detach(c: Client): void {
    if (c.peer === null) return;
    const ep = c.peer.endpoint?.key;
    if (ep !== undefined) this.endpoints.set(c.key, ep);
    this.o.traffic.remove(c.peer);
    this.o.device.removePeer(c.publicKey);
    c.peer = c.shaped = null;
    this.o.store.saveUsage([c.usage.row(this.wall())]);
  }

  private applyPolicy(c: Client): void {
    const policy = this.withWeight(this.policyByName.get(c.policyName) ?? UNLIMITED, c.weight);
    const now = this.wall();
    const finished =
      c.peer !== null ? this.o.traffic.setPolicy(c.peer, policy, now, this.mono()) : c.usage.setPolicy(policy, now);
    if (finished !== null) {
      this.o.store.saveUsage([finished]);
      c.past = pastTotals(this.o.store.usage(c.key), c.usage.periodStart);
    }
  }

  private withWeight(policy: TrafficPolicy, weight: number | null): TrafficPolicy {
    return weight === null || weight === policy.weight ? policy : { ...policy, weight };
  }

  private checkName(name: unknown, field: string): string {
    if (typeof name !== 'string' || !CLIENT_NAME.test(name)) {
      throw new AdminError('invalid', 'a client name is 1-32 of a-z A-Z 0-9 . _ -', field);
    }
    if (this.byName.has(name)) throw new AdminError('duplicate', `another client is named ${name}`, field);
    return name;
  }

  private checkPolicy(name: unknown, field: string): TrafficPolicy {
    const policy = typeof name === 'string' ? this.policyByName.get(name) : undefined;
    if (policy === undefined) {
      throw new AdminError('unknown-policy', `no such policy; configured: ${this.policies().join(', ')}`, field);
    }
    return policy;
  }
}
