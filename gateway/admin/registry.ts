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

import { FieldError } from '../../shared/config/config-error.js';
import { keyField, refuseLowOrder } from '../../shared/config/fields.js';
import { parseEndpoint } from '../../shared/io/endpoint.js';
import type { Logger } from '../../shared/log.js';
import { equalBytes, formatCidr, formatIp, type Cidr } from '../../shared/net/address.js';
import {
  equalConstantTime,
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
import type { Peer } from '../../shared/wireguard/peer.js';
import type { GatewayConfig } from '../config.js';
import { renderClientConfig } from '../export.js';
import { planLeases, type Lease, type Pools } from '../leases.js';
import type { Store } from '../store.js';
import { UNLIMITED, UNLIMITED_NAME, type TrafficPolicy } from '../traffic/policy.js';
import type { ShapedClient, TrafficControl } from '../traffic/traffic.js';
import { ClientUsage, type UsageCounters, type UsageRow } from '../traffic/usage.js';
import { usageEntry } from '../usage-report.js';
import {
  AdminError,
  type AdminBackend,
  type ClientCreate,
  type ClientMetrics,
  type ClientOrigin,
  type ClientPatch,
  type ClientView,
  type GatewayMetrics,
  type GatewayView,
  type LeaseView,
  type MetricsSource,
  type PoolUse,
} from './backend.js';
import { ClientTable, type ApiClientRow } from './client-table.js';

/** Client names: the configuration file's rule. */
const CLIENT_NAME = /^[A-Za-z0-9._-]{1,32}$/;
const MAX_NOTES = 1024;
/** Live rates are averaged over this many one-second samples. */
const RATE_SAMPLES = 5;
/** Device drops that count as failed handshakes in the status and metrics. */
const HANDSHAKE_FAILURES = ['handshake-invalid', 'unknown-peer', 'replayed-initiation'] as const;

interface Client {
  name: string;
  key: string;
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  origin: ClientOrigin;
  enabled: boolean;
  policyName: string;
  /** The API's override of the policy's weight, or null. */
  weight: number | null;
  notes: string;
  createdAt: number | null;
  fixedIpv4?: Uint8Array;
  fixedIpv6?: Uint8Array;
  lease: Lease | null;
  usage: ClientUsage;
  peer: Peer | null;
  shaped: ShapedClient | null;
  /** All-time totals of the stored periods before the current one, and which period they precede. */
  past: { before: number; totals: UsageCounters };
  /** (wall ms, all-time down bytes, up bytes), oldest first. */
  samples: [number, number, number][];
}

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
    config.clients.forEach((c) => {
      const key = formatKey(c.publicKey);
      this.put({
        name: c.name,
        key,
        publicKey: c.publicKey,
        presharedKey: c.presharedKey,
        origin: 'file',
        enabled: overrides.get(key) ?? true,
        policyName: c.policy.name,
        weight: null,
        notes: '',
        createdAt: null,
        ...(c.ipv4 ? { fixedIpv4: c.ipv4 } : {}),
        ...(c.ipv6 ? { fixedIpv6: c.ipv6 } : {}),
        ...this.fresh(key, c.policy, now),
      });
    });
    const fileIndex = new Map(config.clients.map((c, i) => [c.name, i]));
    const fileKeys = new Map(config.clients.map((c, i) => [formatKey(c.publicKey), i]));
    for (const row of this.table.all()) {
      const byName = fileIndex.get(row.name);
      if (byName !== undefined) {
        throw new FieldError(
          `clients[${byName}].name`,
          'duplicate',
          'is a client made through the admin API too; remove one of them',
        ).inFile(config.file);
      }
      const byKey = fileKeys.get(row.publicKey);
      if (byKey !== undefined) {
        throw new FieldError(
          `clients[${byKey}].publicKey`,
          'duplicate',
          `is the key of "${row.name}", a client made through the admin API; remove one of them`,
        ).inFile(config.file);
      }
      const policy = this.policyByName.get(row.policy);
      if (policy === undefined) {
        this.o.log.warn(
          { event: 'client-policy-missing', client: row.name, policy: row.policy },
          `client ${row.name}'s policy is no longer configured; it is unlimited until changed`,
        );
      }
      this.put({
        name: row.name,
        key: row.publicKey,
        publicKey: Uint8Array.from(Buffer.from(row.publicKey, 'base64')),
        presharedKey: row.presharedKey,
        origin: 'api',
        enabled: row.enabled,
        policyName: policy === undefined ? UNLIMITED_NAME : row.policy,
        weight: row.weight,
        notes: row.notes,
        createdAt: row.createdAt,
        ...this.fresh(row.publicKey, this.withWeight(policy ?? UNLIMITED, row.weight), now),
      });
    }
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
      const all = this.allTime(c);
      c.samples.push([t, all.downBytes, all.upBytes]);
      if (c.samples.length > RATE_SAMPLES + 1) c.samples.shift();
    }
  }

  // ------------------------------------------------------------ AdminBackend

  listClients(): ClientView[] {
    return [...this.byKey.values()].sort(byName).map((c) => this.view(c));
  }

  getClient(name: string): ClientView {
    return this.view(this.named(name));
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
      publicKey = this.checkKey(create.publicKey);
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
      const config = privateKey === null ? null : this.render(c, privateKey);
      return { client: this.view(c), config };
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
    return this.view(c);
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
    const c = this.named(name);
    if (this.o.config.endpoint === null) {
      throw new AdminError('invalid', 'the gateway has no endpoint configured, so no client config can be written');
    }
    return this.render(c, null);
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
      current: this.entry(c),
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
      sessions: this.sessions(),
      handshakes: { completed: this.handshakes, failed: this.failedHandshakes() },
      pools: this.poolUse(),
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
        totals: this.allTime(c),
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
      handshakes: { completed: this.handshakes, failed: this.failedHandshakes() },
      drops,
      sessions: this.sessions(),
      pools: this.poolUse(),
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

  private checkKey(text: unknown): Uint8Array {
    try {
      if (typeof text !== 'string') throw new FieldError('publicKey', 'invalid', 'not a WireGuard key');
      const key = keyField(text, 'publicKey');
      if (equalConstantTime(key, this.o.config.publicKey)) {
        throw new FieldError('publicKey', 'invalid', "is the gateway's own public key");
      }
      refuseLowOrder(this.o.config.privateKey, key, 'publicKey');
      return key;
    } catch (e) {
      if (e instanceof FieldError) throw new AdminError('invalid', `publicKey: ${e.problem}`, 'publicKey');
      throw e;
    }
  }

  private render(c: Client, privateKey: Uint8Array | null): string {
    const { config } = this.o;
    if (c.lease === null) throw new AdminError('pool-exhausted', `client ${c.name} has no lease`);
    return renderClientConfig({
      clientPrivateKey: privateKey,
      lease: c.lease,
      gatewayPublicKey: config.publicKey,
      ...(c.presharedKey ? { presharedKey: c.presharedKey } : {}),
      endpoint: config.endpoint!,
      dns: config.dns,
      mtu: config.mtu,
    });
  }

  private view(c: Client): ClientView {
    const peer = c.peer;
    return {
      name: c.name,
      publicKey: c.key,
      origin: c.origin,
      enabled: c.enabled,
      policy: c.policyName,
      weight: c.usage.policy.weight,
      notes: c.notes,
      lease:
        c.lease === null
          ? null
          : {
              ipv4: formatIp(c.lease.ipv4),
              ipv6: formatCidr({ family: 6, address: c.lease.ipv6, prefixLength: c.lease.ipv6PrefixLength }),
            },
      endpoint: peer?.endpoint?.key ?? null,
      lastHandshake:
        peer === null || peer.lastHandshakeWall === 0 ? null : new Date(peer.lastHandshakeWall).toISOString(),
      transfer: { rxBytes: peer?.rxBytes ?? 0, txBytes: peer?.txBytes ?? 0 },
      rates: rates(c.samples),
      usage: this.entry(c),
      createdAt: c.createdAt === null ? null : new Date(c.createdAt).toISOString(),
    };
  }

  private entry(c: Client) {
    const s = c.shaped;
    return usageEntry(c.name, c.usage, {
      quota: s?.quotaDrops ?? 0,
      queue: s === null ? 0 : s.down.drops + s.up.drops,
    });
  }

  /** Every stored period before the current one plus the current counters. */
  private allTime(c: Client): UsageCounters {
    if (c.past.before !== c.usage.periodStart) c.past = pastTotals(this.o.store.usage(c.key), c.usage.periodStart);
    const p = c.past.totals;
    const u = c.usage;
    return {
      downBytes: p.downBytes + u.downBytes,
      upBytes: p.upBytes + u.upBytes,
      downPackets: p.downPackets + u.downPackets,
      upPackets: p.upPackets + u.upPackets,
    };
  }

  private sessions(): number {
    let n = 0;
    for (const peer of this.o.device.peers()) if (peer.current !== null) n++;
    return n;
  }

  private failedHandshakes(): number {
    let n = 0;
    for (const reason of HANDSHAKE_FAILURES) n += this.o.device.drops[reason];
    return n;
  }

  private poolUse(): { ipv4: PoolUse; ipv6: PoolUse } {
    const leases = this.o.store.leases().length;
    const { pools } = this.o;
    const v4 = 2 ** (32 - pools.ipv4.prefixLength) - 3; // network, gateway, broadcast
    const v6bits = pools.ipv6LeasePrefixLength - pools.ipv6.prefixLength;
    // /128 leases: not pool::0 (anycast) nor pool::1 (the gateway's); /64 leases: not the first /64 (the gateway's).
    const v6reserved = pools.ipv6LeasePrefixLength === 128 ? 2 : 1;
    const v6 = Math.min(Number.MAX_SAFE_INTEGER, 2 ** v6bits - v6reserved);
    return {
      ipv4: { prefix: formatCidr(pools.ipv4), used: leases, size: v4 },
      ipv6: { prefix: formatCidr(pools.ipv6), used: leases, size: v6 },
    };
  }
}

/** A peer's allowed IPs: its lease's addresses, or none without a lease. */
function allowedIpsOf(lease: Lease | null): Cidr[] {
  return lease === null
    ? []
    : [
        { family: 4, address: lease.ipv4, prefixLength: 32 },
        { family: 6, address: lease.ipv6, prefixLength: lease.ipv6PrefixLength },
      ];
}

function sameLease(a: Lease | null, b: Lease | null): boolean {
  if (a === null || b === null) return a === b;
  return equalBytes(a.ipv4, b.ipv4) && equalBytes(a.ipv6, b.ipv6) && a.ipv6PrefixLength === b.ipv6PrefixLength;
}

/** An API client as its table row. */
function rowOf(c: Client): ApiClientRow {
  return {
    name: c.name,
    publicKey: c.key,
    presharedKey: c.presharedKey,
    policy: c.policyName,
    weight: c.weight,
    enabled: c.enabled,
    notes: c.notes,
    createdAt: c.createdAt ?? 0,
  };
}

function byName(a: Client, b: Client): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function checkWeight(weight: unknown): number | null {
  if (weight === null) return null;
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > 100) {
    throw new AdminError('invalid', "weight is a whole number 1..100, or null for the policy's", 'weight');
  }
  return weight;
}

function checkNotes(notes: unknown): string {
  if (typeof notes !== 'string' || notes.length > MAX_NOTES) {
    throw new AdminError('invalid', `notes are text of at most ${MAX_NOTES} characters`, 'notes');
  }
  return notes;
}

/** The sums of the stored periods that start before `before`. */
function pastTotals(rows: UsageRow[], before: number): Client['past'] {
  const totals = { downBytes: 0, upBytes: 0, downPackets: 0, upPackets: 0 };
  for (const r of rows) {
    if (r.periodStart >= before) continue;
    totals.downBytes += r.downBytes;
    totals.upBytes += r.upBytes;
    totals.downPackets += r.downPackets;
    totals.upPackets += r.upPackets;
  }
  return { before, totals };
}

/** Bits per second over the samples kept. */
function rates(samples: [number, number, number][]): { downBps: number; upBps: number } {
  if (samples.length < 2) return { downBps: 0, upBps: 0 };
  const [t0, d0, u0] = samples[0]!;
  const [t1, d1, u1] = samples[samples.length - 1]!;
  const seconds = (t1 - t0) / 1000;
  if (seconds <= 0) return { downBps: 0, upBps: 0 };
  return { downBps: Math.round(((d1 - d0) * 8) / seconds), upBps: Math.round(((u1 - u0) * 8) / seconds) };
}
