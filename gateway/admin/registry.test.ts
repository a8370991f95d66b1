// ClientRegistry with real parts in memory: a real Store in a temp folder, a
// GatewayConfig from the real loader (with policies), real Pools, a real Device
// and a real TrafficControl, a fake log and injected clocks. A "restart" is a
// new registry (new device and shaper) over the same state folder.
//
//   load     file + API clients attached, a disabled file client not, a file
//            client the API also has is a config error (exit 2), stale
//            overrides dropped
//   create   given key / generated key (private key only in the one config),
//            every refusal with its code and field, pool exhausted
//   update   API clients: every field, applied to the shaper; file clients:
//            only enabled; disable/enable detaches/attaches, usage continued
//   remove   detached, lease kept as a reservation, releasable
//   read     usage history, all-time metrics across restarts, gateway figures

import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { EXIT_USAGE, exitCodeOf } from '../../shared/cli/exit-code.js';
import type { Logger } from '../../shared/log.js';
import { formatCidr, formatIp, parseCidr } from '../../shared/net/address.js';
import { Device, type Now, type Sink } from '../../shared/wireguard/device.js';
import { formatKey, parseKey, publicKeyText } from '../../shared/wireguard/keys.js';
import type { Peer } from '../../shared/wireguard/peer.js';
import { configFiles } from '../../test/support/config-files.js';
import { packet } from '../../test/support/ip-packets.js';
import { keyPieceIn } from '../../test/support/secrets.js';
import { endpoint, seededRandom } from '../../test/support/two-peers.js';
import { thrownBy } from '../../test/support/thrown.js';
import { ConfigError, parseGatewayConfig, type GatewayConfig } from '../config.js';
import { PRIVATE_KEY_PLACEHOLDER } from '../export.js';
import { poolsOf } from '../lease-plan.js';
import { gatewayAddresses } from '../leases.js';
import { Store } from '../store.js';
import { TrafficControl } from '../traffic/traffic.js';
import { UsageKeeper } from '../traffic/usage-keeper.js';
import type { UsageRow } from '../traffic/usage.js';
import { AdminError, type AdminErrorCode, type ClientCreate, type ClientView } from './backend.js';
import { ClientTable } from './client-table.js';
import { ClientRegistry } from './registry.js';

/** Mid-June 2026, UTC: the current period of every client is June (monthly, UTC). */
const WALL0 = Date.UTC(2026, 5, 10, 12);
const JUNE = Date.UTC(2026, 5, 1);
const MAY = Date.UTC(2026, 4, 1);
const APRIL = Date.UTC(2026, 3, 1);
const GW_ENDPOINT = endpoint([203, 0, 113, 1], 51820);
const CLIENT_ENDPOINT = endpoint([198, 51, 100, 20], 40000);
const INTERNET = '198.51.100.7';
const VERSION = '9.9.9-test';
const LISTEN_PORT = 51820;

const files = configFiles('mg-registry-', 'gateway', () => undefined);
const gw = files.keyPair();
const alice = files.keyPair();
const bob = files.keyPair();
const carol = files.keyPair();
const dave = files.keyPair();
let states = 0;

beforeAll(() => {
  files.open();
  files.writeKey('gateway.key', gw.privateKey);
});
afterAll(() => files.close());

/** The configuration as data: two file clients (alice: resident, bob: the default), two policies. */
function configData(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    privateKeyFile: 'gateway.key',
    uplink: 'eth0',
    endpoint: '203.0.113.1:51820',
    ipv4Pool: '100.64.0.0/24',
    ipv6: { pool: 'fd12:3456:789a::/120' },
    dns: ['100.64.0.1'],
    policies: {
      resident: {
        quota: { bytes: '1GB', period: 'month', timeZone: 'UTC' },
        rate: { down: '50Mbit', up: '10Mbit' },
        weight: 2,
      },
      guest: { rate: { down: '5Mbit', up: '1Mbit' }, weight: 5 },
    },
    clients: [
      { name: 'alice', publicKey: alice.publicKey, policy: 'resident' },
      { name: 'bob', publicKey: bob.publicKey },
    ],
    ...extra,
  };
}

/** A loaded configuration with its own state folder (or `stateDir`), accounting in UTC. */
function loadConfig(extra: Record<string, unknown> = {}, stateDir?: string): GatewayConfig {
  const state = stateDir ?? join(files.dir, `state-${++states}`);
  const config = parseGatewayConfig(
    YAML.stringify(configData({ stateDir: state, ...extra })),
    join(files.dir, 'gateway.yaml'),
  );
  return { ...config, accountingZone: 'UTC' };
}

const openStores: Store[] = [];
afterEach(() => {
  for (const s of openStores.splice(0)) s.close();
});

/** One run of the daemon's client side: store, pools, device, shaper, registry; clocks and log in memory. */
class Gateway {
  mono = 5_000;
  readonly logs: unknown[][] = [];
  readonly store: Store;
  readonly device: Device;
  readonly traffic: TrafficControl;
  readonly registry: ClientRegistry;
  uplinkUp = true;

  constructor(
    readonly config: GatewayConfig,
    store?: Store,
    /** Wall-clock ms now (a restart goes on from the last run's). */
    public wall = WALL0,
  ) {
    this.store = store ?? Store.open(config.stateDir);
    if (!openStores.includes(this.store)) openStores.push(this.store);
    const pools = poolsOf(config, this.store);
    const addresses = gatewayAddresses(pools);
    const random = (n: number) => Uint8Array.from(randomBytes(n));
    this.traffic = new TrafficControl({
      capacity: config.uplinkCapacity,
      gatewayIpv4: addresses.ipv4,
      gatewayIpv6: addresses.ipv6,
      random,
      now: this.mono,
    });
    let registry: ClientRegistry | null = null;
    this.device = new Device({
      privateKey: config.privateKey,
      random,
      mtu: config.mtu,
      events: { handshakeCompleted: () => registry?.handshakeCompleted() },
      shaper: this.traffic,
    });
    const push =
      (level: string) =>
      (...a: unknown[]) =>
        this.logs.push([level, ...a]);
    const log = { info: push('info'), warn: push('warn'), error: push('error'), debug: push('debug') };
    this.registry = registry = new ClientRegistry({
      config,
      store: this.store,
      pools,
      device: this.device,
      traffic: this.traffic,
      random,
      log: log as unknown as Logger,
      version: VERSION,
      listenPort: () => LISTEN_PORT,
      uplinkUp: () => this.uplinkUp,
      wallNow: () => this.wall,
      monoNow: () => this.mono,
    });
  }

  /** A gateway over the same state, loaded. */
  static start(config: GatewayConfig, store?: Store, wall?: number): Gateway {
    const g = new Gateway(config, store, wall);
    g.registry.load();
    return g;
  }

  /** Stops this run (the store closes as the daemon's does) and starts another over the same state. */
  restart(config: GatewayConfig = this.config): Gateway {
    this.store.close();
    return Gateway.start(config, undefined, this.wall);
  }

  now(): Now {
    return { mono: this.mono, wall: this.wall };
  }

  peer(key: string): Peer | undefined {
    return this.device.peer(key);
  }

  /** The attached peer's allowed IPs as text. */
  allowedIps(key: string): string[] | undefined {
    return this.peer(key)?.allowedIps.map(formatCidr);
  }

  /** A download to a client through the shaper, as the device hands it over: charged when it passes. */
  download(key: string, size: number): boolean {
    const lease = this.registry.getClient(this.registry.nameOf(key)!).lease!;
    return this.traffic.toPeer(this.peer(key)!, packet({ src: INTERNET, dst: lease.ipv4, size }), this.now());
  }

  upload(key: string, size: number): boolean {
    const lease = this.registry.getClient(this.registry.nameOf(key)!).lease!;
    return this.traffic.fromPeer(this.peer(key)!, packet({ src: lease.ipv4, dst: INTERNET, size }), this.now());
  }

  /** Every view the registry gives, as JSON text (for secret scans). */
  everything(): string {
    const r = this.registry;
    return JSON.stringify([
      r.listClients(),
      r.listClients().map((c) => [r.getClient(c.name), r.usage(c.name)]),
      r.listClients().map((c) => (this.config.endpoint === null ? '' : r.clientConfig(c.name))),
      r.listLeases(),
      r.status(),
      r.policies(),
      r.clientMetrics(),
      r.gatewayMetrics(),
      this.logs,
    ]);
  }
}

/** The AdminError `fn` throws; checks its code and field. */
function refused(fn: () => unknown, code: AdminErrorCode, field?: string): AdminError {
  const e = thrownBy(fn);
  expect(e).toBeInstanceOf(AdminError);
  expect({ code: (e as AdminError).code, field: (e as AdminError).field }).toEqual({ code, field });
  return e as AdminError;
}

/** Restarts the gateway and checks the API client `name` came back as it was; returns the new gateway. */
function keptAfterRestart(g: Gateway, name: string, expected: Partial<ClientView>): Gateway {
  const again = g.restart();
  expect(again.registry.getClient(name)).toMatchObject({ origin: 'api', ...expected });
  return again;
}

/** The lease of a client as allowed IPs text: IPv4 /32 and its IPv6 lease. */
function leaseCidrs(g: Gateway, name: string): string[] {
  const lease = g.registry.getClient(name).lease!;
  return [`${lease.ipv4}/32`, lease.ipv6];
}

/** A stock client with `privateKey` does a handshake with the gateway and sends one packet of `size` bytes up. */
function connect(g: Gateway, privateKey: string, size: number, presharedKey?: string): void {
  const lease = g.registry.getClient(g.registry.nameOf(publicKeyText(privateKey))!).lease!;
  const client = new Device({ privateKey: parseKey(privateKey), random: seededRandom('client') });
  client.addPeer({
    publicKey: g.config.publicKey,
    presharedKey: presharedKey === undefined ? undefined : parseKey(presharedKey),
    allowedIps: [parseCidr('0.0.0.0/0')],
    endpoint: GW_ENDPOINT,
  });
  const toGateway: Uint8Array[] = [];
  const toClient: Uint8Array[] = [];
  const clientSink: Sink = { toNetwork: (d) => toGateway.push(Uint8Array.from(d)), toTunnel: () => {} };
  const gatewaySink: Sink = { toNetwork: (d) => toClient.push(Uint8Array.from(d)), toTunnel: () => {} };
  client.fromTunnel(packet({ src: lease.ipv4, dst: INTERNET, size }), g.now(), clientSink);
  for (let rounds = 0; rounds < 10 && toGateway.length + toClient.length > 0; rounds++) {
    for (const d of toGateway.splice(0)) g.device.fromNetwork(d, CLIENT_ENDPOINT, g.now(), gatewaySink);
    for (const d of toClient.splice(0)) client.fromNetwork(d, GW_ENDPOINT, g.now(), clientSink);
  }
}

describe('load', () => {
  it('attaches the file clients and the API clients of the db; a disabled file client stays detached', () => {
    const first = Gateway.start(loadConfig());
    first.registry.createClient({ name: 'carol', publicKey: carol.publicKey, policy: 'guest' });
    first.registry.updateClient('bob', { enabled: false });

    const g = first.restart();
    const r = g.registry;
    expect(r.listClients().map((c) => [c.name, c.origin, c.enabled, c.policy])).toEqual([
      ['alice', 'file', true, 'resident'],
      ['bob', 'file', false, 'unlimited'],
      ['carol', 'api', true, 'guest'],
    ]);
    for (const [name, key] of [
      ['alice', alice.publicKey],
      ['carol', carol.publicKey],
    ] as const) {
      expect(g.allowedIps(key), name).toEqual(leaseCidrs(g, name));
      expect(g.traffic.client(g.peer(key)!)?.usage.publicKey, name).toBe(key);
    }
    expect(g.peer(bob.publicKey)).toBeUndefined();
    expect(r.getClient('bob').lease).not.toBeNull(); // its lease stays
    expect(r.leaseOf(bob.publicKey)).toBeNull(); // but the lease server refuses it
    expect([...g.device.peers()]).toHaveLength(2);
    expect([...g.traffic.clients()]).toHaveLength(2);
  });

  it("refuses a file client with an API client's name or key (clients[i].name / .publicKey, exit 2), attaching nothing", () => {
    const first = Gateway.start(loadConfig());
    first.registry.createClient({ name: 'carol', publicKey: carol.publicKey });
    const stateDir = first.config.stateDir;
    first.store.close();

    const cases = [
      [{ name: 'carol', publicKey: dave.publicKey }, 'clients[2].name', /admin API/],
      [
        { name: 'carol2', publicKey: carol.publicKey },
        'clients[2].publicKey',
        /"carol", a client made through the admin API/,
      ],
    ] as const;
    for (const [extraClient, field, pattern] of cases) {
      const config = loadConfig({ clients: [...(configData().clients as object[]), extraClient] }, stateDir);
      const g = new Gateway(config);
      const e = thrownBy(() => g.registry.load());
      expect(e, field).toBeInstanceOf(ConfigError);
      const ce = e as ConfigError;
      expect([ce.field, ce.code]).toEqual([field, 'duplicate']);
      expect(ce.message.startsWith(`${config.file}: ${field}: `)).toBe(true);
      expect(ce.message).toMatch(pattern);
      expect(exitCodeOf(ce)).toBe(EXIT_USAGE);
      for (const secret of files.secrets) expect(ce.message).not.toContain(secret);
      expect([...g.device.peers()]).toEqual([]);
      expect([...g.traffic.clients()]).toEqual([]);
      g.store.close();
    }
    // The db is untouched: the API client is still there with the file as it was.
    const g = Gateway.start(loadConfig({}, stateDir));
    expect(g.registry.getClient('carol').origin).toBe('api');
  });

  it('drops the enable switch of a key no longer in the file: the client re-added comes back enabled', () => {
    const first = Gateway.start(loadConfig());
    first.registry.updateClient('bob', { enabled: false });
    expect(new ClientTable(first.store).overrides()).toEqual(new Map([[bob.publicKey, false]]));

    const withoutBob = first.restart(
      loadConfig({ clients: [{ name: 'alice', publicKey: alice.publicKey }] }, first.config.stateDir),
    );
    expect(new ClientTable(withoutBob.store).overrides()).toEqual(new Map());
    expect(withoutBob.registry.listClients().map((c) => c.name)).toEqual(['alice']);

    const withBob = withoutBob.restart(loadConfig({}, first.config.stateDir));
    expect(withBob.registry.getClient('bob').enabled).toBe(true);
    expect(withBob.allowedIps(bob.publicKey)).toEqual(leaseCidrs(withBob, 'bob'));
  });
});

describe('createClient', () => {
  it('with a given key: attached at once with its lease, persisted as an API client', () => {
    const g = Gateway.start(loadConfig());
    g.wall += 1234;
    const { client, config } = g.registry.createClient({
      name: 'carol',
      publicKey: carol.publicKey,
      policy: 'guest',
      weight: 9,
      notes: 'flat 3',
    });
    expect(config).toBeNull();
    expect(client).toMatchObject({
      name: 'carol',
      publicKey: carol.publicKey,
      origin: 'api',
      enabled: true,
      policy: 'guest',
      weight: 9,
      notes: 'flat 3',
      createdAt: new Date(WALL0 + 1234).toISOString(),
    });
    expect(client.lease).not.toBeNull();
    expect(g.allowedIps(carol.publicKey)).toEqual([`${client.lease!.ipv4}/32`, client.lease!.ipv6]);
    const shaped = g.traffic.client(g.peer(carol.publicKey)!)!;
    expect([shaped.policy.name, shaped.down.weight, shaped.up.weight]).toEqual(['guest', 9, 9]);
    expect(g.registry.listLeases().find((l) => l.publicKey === carol.publicKey)).toMatchObject({
      name: 'carol',
      configured: true,
      ipv4: client.lease!.ipv4,
    });

    const again = keptAfterRestart(g, 'carol', {
      policy: 'guest',
      weight: 9,
      notes: 'flat 3',
      lease: client.lease,
      createdAt: client.createdAt,
    });
    expect(again.allowedIps(carol.publicKey)).toEqual(leaseCidrs(again, 'carol'));
  });

  it('disabled from the start: a lease but no peer; an API client whose policy left the file is unlimited', () => {
    const g = Gateway.start(loadConfig());
    const { client } = g.registry.createClient({ name: 'carol', publicKey: carol.publicKey, enabled: false });
    expect(client).toMatchObject({ enabled: false, lease: { ipv4: '100.64.0.4' } });
    expect(g.peer(carol.publicKey)).toBeUndefined();
    expect(g.registry.status().clients).toEqual({ total: 3, enabled: 2 });
    g.registry.createClient({ name: 'dave', publicKey: dave.publicKey, policy: 'guest', weight: 4 });

    const policies = { resident: (configData().policies as Record<string, unknown>).resident };
    const again = g.restart(loadConfig({ policies }, g.config.stateDir));
    expect(again.registry.getClient('dave')).toMatchObject({ policy: 'unlimited', weight: 4 });
    expect(again.traffic.client(again.peer(dave.publicKey)!)?.policy).toMatchObject({ name: 'unlimited', weight: 4 });
    expect(again.logs).toContainEqual([
      'warn',
      { event: 'client-policy-missing', client: 'dave', policy: 'guest' },
      expect.stringContaining('unlimited'),
    ]);
    expect(again.peer(carol.publicKey)).toBeUndefined();
  });

  it('with generateKey: the config holds the private key once; no view, log, export or db ever does', () => {
    const g = Gateway.start(loadConfig());
    const { client, config } = g.registry.createClient({ name: 'phone', generateKey: true });
    expect(config).not.toBeNull();
    const privateKey = /^PrivateKey = (\S+)$/m.exec(config!)?.[1];
    expect(privateKey).toBeDefined();
    expect(publicKeyText(privateKey!)).toBe(client.publicKey);
    const presharedKey = /^PresharedKey = (\S{44})$/m.exec(config!)?.[1];
    expect(presharedKey).toBeDefined();
    expect(config).toContain(`Address = ${client.lease!.ipv4}/32, ${client.lease!.ipv6}`);
    expect(config).toContain(`PublicKey = ${gw.publicKey}`);
    expect(config).toContain('Endpoint = 203.0.113.1:51820');
    expect(g.allowedIps(client.publicKey)).toEqual(leaseCidrs(g, 'phone'));

    // A stock client with that config gets through (its preshared key is the peer's).
    connect(g, privateKey!, 100, presharedKey);
    expect(g.registry.usage('phone').current.upload).toEqual({ bytes: 100, packets: 1 });

    const noKey = (text: string, where: string) => expect(keyPieceIn(text, privateKey!), where).toBeUndefined();
    noKey(JSON.stringify(client), 'the created view');
    const exported = g.registry.clientConfig('phone');
    expect(exported).toContain(PRIVATE_KEY_PLACEHOLDER);
    expect(exported).not.toMatch(/^PrivateKey/m);
    noKey(g.everything(), 'views, leases, usage, status, metrics, logs');
    g.registry.updateClient('phone', { enabled: false, notes: 'lost' });
    g.registry.updateClient('phone', { enabled: true });
    noKey(g.everything(), 'after changes');
    const again = g.restart();
    noKey(again.everything(), 'after a restart');
    // The preshared key came back from the db: the same stock client still gets through.
    connect(again, privateKey!, 60, presharedKey);
    expect(again.registry.usage('phone').current.upload).toEqual({ bytes: 160, packets: 2 });
    again.store.close();
    const raw = Buffer.from(parseKey(privateKey!));
    for (const f of readdirSync(g.config.stateDir)) {
      const bytes = readFileSync(join(g.config.stateDir, f));
      expect(bytes.includes(raw), f).toBe(false);
      noKey(bytes.toString('latin1'), f);
    }
  });

  it('refuses bad input with its code and field, changing nothing', () => {
    const g = Gateway.start(loadConfig());
    g.registry.createClient({ name: 'carol', publicKey: carol.publicKey });
    const lowOrder = new Uint8Array(32);
    lowOrder[0] = 1; // u = 1 has order 4 on Curve25519
    const key = { publicKey: dave.publicKey };
    const cases: [ClientCreate, AdminErrorCode, string][] = [
      [{ name: 'bad name', ...key }, 'invalid', 'name'],
      [{ name: '', ...key }, 'invalid', 'name'],
      [{ name: 'x'.repeat(33), ...key }, 'invalid', 'name'],
      [{ name: 7 as unknown as string, ...key }, 'invalid', 'name'],
      [{ name: 'alice', ...key }, 'duplicate', 'name'], // a file client's
      [{ name: 'carol', ...key }, 'duplicate', 'name'], // an API client's
      [{ name: 'dave', publicKey: alice.publicKey }, 'duplicate', 'publicKey'],
      [{ name: 'dave', publicKey: carol.publicKey }, 'duplicate', 'publicKey'],
      [{ name: 'dave', publicKey: 'not a key' }, 'invalid', 'publicKey'],
      [{ name: 'dave', publicKey: `${dave.publicKey.slice(0, -2)}` }, 'invalid', 'publicKey'],
      [{ name: 'dave', publicKey: gw.publicKey }, 'invalid', 'publicKey'],
      [{ name: 'dave', publicKey: formatKey(lowOrder) }, 'invalid', 'publicKey'],
      [{ name: 'dave', publicKey: formatKey(new Uint8Array(32)) }, 'invalid', 'publicKey'],
      [{ name: 'dave', ...key, policy: 'premium' }, 'unknown-policy', 'policy'],
      [{ name: 'dave', ...key, weight: 0 }, 'invalid', 'weight'],
      [{ name: 'dave', ...key, weight: 101 }, 'invalid', 'weight'],
      [{ name: 'dave', ...key, weight: 1.5 }, 'invalid', 'weight'],
      [{ name: 'dave', ...key, notes: 'n'.repeat(1025) }, 'invalid', 'notes'],
      [{ name: 'dave', ...key, generateKey: true }, 'invalid', 'publicKey'],
      [{ name: 'dave' }, 'invalid', 'publicKey'],
    ];
    const before = g.everything();
    const leases = g.store.leases().length;
    for (const [create, code, field] of cases) {
      const e = refused(() => g.registry.createClient(create), code, field);
      for (const secret of files.secrets) expect(e.message).not.toContain(secret);
    }
    expect(g.registry.listClients().map((c) => c.name)).toEqual(['alice', 'bob', 'carol']);
    expect(new ClientTable(g.store).all().map((c) => c.name)).toEqual(['carol']);
    expect(g.store.leases()).toHaveLength(leases);
    expect([...g.device.peers()]).toHaveLength(3);
    expect(g.everything()).toBe(before);

    // 1,024 characters of notes are fine; a weight of 1 and 100 too.
    g.registry.createClient({ name: 'dave', ...key, notes: 'n'.repeat(1024), weight: 100 });

    const noEndpoint = Gateway.start(loadConfig({ endpoint: undefined }));
    refused(() => noEndpoint.registry.createClient({ name: 'phone', generateKey: true }), 'invalid', 'generateKey');
    expect(noEndpoint.registry.listClients()).toHaveLength(2);
    expect(new ClientTable(noEndpoint.store).all()).toEqual([]);
  });

  it('refuses a client when the pool is exhausted: nothing persisted or attached; a released reservation frees it', () => {
    // A /30 holds one client: network, gateway, one client, broadcast.
    const g = Gateway.start(loadConfig({ ipv4Pool: '100.64.0.0/30', clients: [] }));
    const first = g.registry.createClient({ name: 'carol', publicKey: carol.publicKey }).client;
    expect(first.lease?.ipv4).toBe('100.64.0.2');
    const leases = () => g.store.leases().map((l) => [l.publicKey, formatIp(l.ipv4)]);
    const held = leases();
    for (const create of [
      { name: 'dave', publicKey: dave.publicKey },
      { name: 'phone', generateKey: true },
    ]) {
      refused(() => g.registry.createClient(create), 'pool-exhausted');
      expect(g.registry.listClients().map((c) => c.name)).toEqual(['carol']);
      expect(new ClientTable(g.store).all().map((c) => c.name)).toEqual(['carol']);
      expect(leases()).toEqual(held);
      expect([...g.device.peers()].map((p) => p.keyText)).toEqual([carol.publicKey]);
      expect([...g.traffic.clients()]).toHaveLength(1);
    }
    expect(g.registry.status().pools.ipv4).toEqual({ prefix: '100.64.0.0/30', used: 1, size: 1 });

    // Removed, carol's lease stays reserved: still no room until it is released.
    g.registry.removeClient('carol');
    refused(() => g.registry.createClient({ name: 'dave', publicKey: dave.publicKey }), 'pool-exhausted');
    g.registry.releaseLease(carol.publicKey);
    const dave2 = g.registry.createClient({ name: 'dave', publicKey: dave.publicKey }).client;
    expect(dave2.lease?.ipv4).toBe('100.64.0.2');
    expect(g.allowedIps(dave.publicKey)).toEqual(leaseCidrs(g, 'dave'));
  });
});

it('a client left without a lease at load gets one later, and its peer the lease as allowed IPs', () => {
  const first = Gateway.start(loadConfig({ ipv4Pool: '100.64.0.0/30', clients: [] }));
  first.registry.createClient({ name: 'carol', publicKey: carol.publicKey });
  const config = loadConfig(
    { ipv4Pool: '100.64.0.0/30', clients: [{ name: 'bob', publicKey: bob.publicKey }] },
    first.config.stateDir,
  );
  first.store.close();
  const g = new Gateway(config);
  expect(g.registry.load()).toEqual({ refused: [bob.publicKey] }); // carol's lease is sticky
  expect(g.registry.getClient('bob').lease).toBeNull();
  expect(g.allowedIps(bob.publicKey)).toEqual([]); // a peer, so that the lease server can say why
  expect(g.registry.leaseOf(bob.publicKey)).toBeNull();

  g.registry.removeClient('carol');
  g.registry.releaseLease(carol.publicKey);
  // The next plan gives the free address to bob (configured first) and none is left for dave.
  refused(() => g.registry.createClient({ name: 'dave', publicKey: dave.publicKey }), 'pool-exhausted');
  expect(g.registry.getClient('bob').lease?.ipv4).toBe('100.64.0.2');
  expect(g.allowedIps(bob.publicKey)).toEqual(leaseCidrs(g, 'bob'));
  expect(g.device.route(Uint8Array.of(100, 64, 0, 2))?.keyText).toBe(bob.publicKey);
});

describe('updateClient', () => {
  it('changes every field of an API client, persisted and applied to the shaper', () => {
    const g = Gateway.start(loadConfig());
    g.registry.createClient({ name: 'carol', publicKey: carol.publicKey });
    const shaped = () => g.traffic.client(g.peer(carol.publicKey)!)!;
    expect([shaped().policy.name, shaped().down.weight]).toEqual(['unlimited', 1]);

    const view = g.registry.updateClient('carol', { name: 'carol2', policy: 'guest', weight: 7, notes: 'flat 3' });
    expect(view).toMatchObject({ name: 'carol2', policy: 'guest', weight: 7, notes: 'flat 3', enabled: true });
    refused(() => g.registry.getClient('carol'), 'not-found', 'name');
    const guest = g.config.policies.find((p) => p.name === 'guest')!;
    expect(shaped().policy).toEqual({ ...guest, weight: 7 });
    expect([shaped().down.weight, shaped().up.weight]).toEqual([7, 7]);
    expect(shaped().usage.policy.weight).toBe(7);
    expect(g.registry.usage('carol2').current.limits).toEqual({
      down: guest.down!.bitsPerSecond,
      up: guest.up!.bitsPerSecond,
    });

    // null: the policy's weight again.
    expect(g.registry.updateClient('carol2', { weight: null }).weight).toBe(5);
    expect([shaped().policy.weight, shaped().down.weight]).toEqual([5, 5]);
    g.registry.updateClient('carol2', { weight: 3 });

    // Refusals change nothing.
    refused(() => g.registry.updateClient('carol2', { name: 'alice' }), 'duplicate', 'name');
    refused(() => g.registry.updateClient('carol2', { name: 'no way' }), 'invalid', 'name');
    refused(() => g.registry.updateClient('carol2', { policy: 'premium' }), 'unknown-policy', 'policy');
    refused(() => g.registry.updateClient('carol2', { weight: 0, notes: 'x' }), 'invalid', 'weight');
    refused(() => g.registry.updateClient('carol2', { notes: 'n'.repeat(1025) }), 'invalid', 'notes');
    refused(() => g.registry.updateClient('nobody', { notes: '' }), 'not-found', 'name');
    expect(g.registry.getClient('carol2')).toMatchObject({ policy: 'guest', weight: 3, notes: 'flat 3' });

    const again = keptAfterRestart(g, 'carol2', { policy: 'guest', weight: 3, notes: 'flat 3' });
    const s = again.traffic.client(again.peer(carol.publicKey)!)!;
    expect([s.policy.name, s.down.weight]).toEqual(['guest', 3]);
  });

  it('allows only the enable switch of a file client', () => {
    const g = Gateway.start(loadConfig());
    for (const patch of [{ name: 'alice2' }, { policy: 'guest' }, { weight: 3 }, { notes: 'x' }] as const) {
      const field = Object.keys(patch)[0]!;
      const e = refused(() => g.registry.updateClient('alice', { enabled: false, ...patch }), 'file-managed', field);
      expect(e.message).toContain(g.config.file);
    }
    expect(g.registry.getClient('alice')).toMatchObject({ name: 'alice', enabled: true, policy: 'resident' });
    expect(g.peer(alice.publicKey)).toBeDefined();
    expect(g.registry.updateClient('alice', { enabled: false }).enabled).toBe(false);
  });

  it('disable detaches at once and enable re-attaches with the usage counters kept', () => {
    const g = Gateway.start(loadConfig());
    g.registry.createClient({ name: 'carol', publicKey: carol.publicKey });
    const oldPeer = g.peer(carol.publicKey)!;
    expect(g.download(carol.publicKey, 500)).toBe(true);
    expect(g.upload(carol.publicKey, 200)).toBe(true);
    const lease = g.registry.getClient('carol').lease;

    const off = g.registry.updateClient('carol', { enabled: false });
    expect(off).toMatchObject({ enabled: false, lease });
    expect(g.peer(carol.publicKey)).toBeUndefined();
    expect(g.traffic.client(oldPeer)).toBeUndefined();
    expect(g.device.route(Uint8Array.from(oldPeer.allowedIps[0]!.address))).toBeUndefined();
    expect(g.registry.leaseOf(carol.publicKey)).toBeNull();
    expect(g.registry.listLeases().find((l) => l.publicKey === carol.publicKey)).toMatchObject({ configured: true });
    expect(g.store.usage(carol.publicKey)[0]).toMatchObject({ downBytes: 500, upBytes: 200 }); // saved at once
    expect(g.registry.usage('carol').current.download).toEqual({ bytes: 500, packets: 1 });

    const on = g.registry.updateClient('carol', { enabled: true });
    expect(on).toMatchObject({ enabled: true, lease });
    expect(g.allowedIps(carol.publicKey)).toEqual(leaseCidrs(g, 'carol'));
    const shaped = g.traffic.client(g.peer(carol.publicKey)!)!;
    expect([shaped.usage.downBytes, shaped.usage.upBytes]).toEqual([500, 200]);
    expect(g.download(carol.publicKey, 300)).toBe(true);
    expect(g.registry.usage('carol').current).toMatchObject({
      download: { bytes: 800, packets: 2 },
      upload: { bytes: 200, packets: 1 },
    });
  });

  it("a file client's disable survives a restart, and so does its enable", () => {
    const g = Gateway.start(loadConfig());
    g.registry.updateClient('bob', { enabled: false });
    const off = g.restart();
    expect(off.registry.getClient('bob').enabled).toBe(false);
    expect(off.peer(bob.publicKey)).toBeUndefined();
    expect(off.registry.status().clients).toEqual({ total: 2, enabled: 1 });
    off.registry.updateClient('bob', { enabled: true });
    expect(off.allowedIps(bob.publicKey)).toEqual(leaseCidrs(off, 'bob'));
    const on = off.restart();
    expect(on.registry.getClient('bob').enabled).toBe(true);
    expect(on.allowedIps(bob.publicKey)).toEqual(leaseCidrs(on, 'bob'));
  });
});

it('live rates: bits per second between samples', () => {
  const g = Gateway.start(loadConfig());
  g.registry.sample();
  g.download(alice.publicKey, 1_000);
  g.upload(alice.publicKey, 250);
  g.wall += 2_000;
  g.registry.sample();
  expect(g.registry.getClient('alice').rates).toEqual({ downBps: 4_000, upBps: 1_000 });
  expect(g.registry.getClient('bob').rates).toEqual({ downBps: 0, upBps: 0 });
});

describe('removeClient', () => {
  it('detaches an API client for good; its lease stays reserved until released', () => {
    const g = Gateway.start(loadConfig());
    const lease = g.registry.createClient({ name: 'carol', publicKey: carol.publicKey }).client.lease!;
    const peer = g.peer(carol.publicKey)!;
    g.registry.removeClient('carol');
    expect(g.peer(carol.publicKey)).toBeUndefined();
    expect(g.traffic.client(peer)).toBeUndefined();
    refused(() => g.registry.getClient('carol'), 'not-found', 'name');
    const reservation = {
      publicKey: carol.publicKey,
      name: null,
      configured: false,
      ipv4: lease.ipv4,
      ipv6: lease.ipv6,
    };
    expect(g.registry.listLeases().find((l) => l.publicKey === carol.publicKey)).toMatchObject(reservation);

    const again = g.restart();
    refused(() => again.registry.getClient('carol'), 'not-found', 'name');
    expect(new ClientTable(again.store).all()).toEqual([]);
    expect(again.registry.listLeases().find((l) => l.publicKey === carol.publicKey)).toMatchObject(reservation);
    expect(again.registry.status().clients).toEqual({ total: 2, enabled: 2 });

    // A configured client's lease cannot be released; a file client cannot be removed.
    refused(() => again.registry.releaseLease(alice.publicKey), 'in-use');
    refused(() => again.registry.removeClient('alice'), 'file-managed');
    refused(() => again.registry.removeClient('nobody'), 'not-found', 'name');
    expect(again.peer(alice.publicKey)).toBeDefined();

    again.registry.releaseLease(carol.publicKey);
    expect(again.registry.listLeases().map((l) => l.publicKey)).not.toContain(carol.publicKey);
    refused(() => again.registry.releaseLease(carol.publicKey), 'not-found');
  });

  it('a removed client added again gets its reserved lease back', () => {
    const g = Gateway.start(loadConfig());
    const lease = g.registry.createClient({ name: 'carol', publicKey: carol.publicKey }).client.lease;
    g.registry.removeClient('carol');
    g.registry.createClient({ name: 'dave', publicKey: dave.publicKey });
    expect(g.registry.getClient('dave').lease).not.toEqual(lease);
    expect(g.registry.createClient({ name: 'carol', publicKey: carol.publicKey }).client.lease).toEqual(lease);
  });
});

describe('usage and metrics', () => {
  /** Two finished periods of alice's in the db before the gateway starts. */
  const history = (key: string): UsageRow[] => [
    {
      publicKey: key,
      periodStart: MAY,
      periodEnd: JUNE,
      downBytes: 5_000,
      upBytes: 500,
      downPackets: 50,
      upPackets: 5,
      updatedAt: JUNE,
    },
    {
      publicKey: key,
      periodStart: APRIL,
      periodEnd: MAY,
      downBytes: 7_000,
      upBytes: 700,
      downPackets: 70,
      upPackets: 7,
      updatedAt: MAY,
    },
  ];

  it('gives the current period and the history; metrics are all-time and continue after a restart', () => {
    const config = loadConfig();
    const store = Store.open(config.stateDir);
    store.saveUsage(history(alice.publicKey));
    const g = Gateway.start(config, store);
    g.download(alice.publicKey, 1_000);
    g.upload(alice.publicKey, 100);

    const usage = g.registry.usage('alice');
    expect(usage.current).toMatchObject({
      name: 'alice',
      policy: 'resident',
      state: 'ok',
      periodStart: new Date(JUNE).toISOString(),
      download: { bytes: 1_000, packets: 1 },
      upload: { bytes: 100, packets: 1 },
      used: 1_100,
      quota: 1e9,
    });
    expect(usage.history).toEqual(history(alice.publicKey));
    expect(g.registry.usage('bob').history).toEqual([]);
    refused(() => g.registry.usage('nobody'), 'not-found', 'name');

    const alltime = { downBytes: 13_000, upBytes: 1_300, downPackets: 121, upPackets: 13 };
    const metricsOf = (x: Gateway) => x.registry.clientMetrics().find((m) => m.name === 'alice')!;
    expect(metricsOf(g)).toEqual({
      name: 'alice',
      enabled: true,
      totals: alltime,
      quota: { limitBytes: 1e9, usedBytes: 1_100, state: 'ok' },
      lastHandshake: null,
      drops: { quota: 0, queue: 0 },
    });
    expect(g.registry.clientMetrics().map((m) => m.name)).toEqual(['alice', 'bob']);

    // The daemon's checkpoint saves the period; after a restart the counters go on from there.
    new UsageKeeper(g.traffic, g.store, () => {}).checkpoint(g.wall);
    const again = g.restart();
    expect(metricsOf(again).totals).toEqual(alltime);
    expect(again.registry.usage('alice').history).toEqual(history(alice.publicKey));
    again.download(alice.publicKey, 40);
    expect(metricsOf(again).totals).toEqual({ ...alltime, downBytes: 13_040, downPackets: 122 });

    // The period ends: June becomes history and the totals go on.
    again.wall = Date.UTC(2026, 6, 2);
    new UsageKeeper(again.traffic, again.store, () => {}).checkpoint(again.wall);
    expect(metricsOf(again).totals).toEqual({ ...alltime, downBytes: 13_040, downPackets: 122 });
    expect(again.registry.usage('alice').current.download).toEqual({ bytes: 0, packets: 0 });
    expect(again.registry.usage('alice').history.map((r) => [r.periodStart, r.downBytes])).toEqual([
      [JUNE, 1_040],
      [MAY, 5_000],
      [APRIL, 7_000],
    ]);
    again.download(alice.publicKey, 40);
    expect(metricsOf(again).totals.downBytes).toBe(13_080);

    // Disabled, its totals stay (and are saved).
    again.registry.updateClient('alice', { enabled: false });
    expect(metricsOf(again)).toMatchObject({ enabled: false, totals: { downBytes: 13_080 } });
    expect(metricsOf(again.restart()).totals.downBytes).toBe(13_080);
  });

  it('gateway figures: handshakes, drops by reason, sessions, pool use, status', () => {
    const g = Gateway.start(loadConfig());
    g.mono += 1000;
    g.wall += 1000;
    g.registry.createClient({ name: 'carol', publicKey: carol.publicKey });
    g.registry.updateClient('bob', { enabled: false });

    connect(g, carol.privateKey, 120); // a handshake, then one packet up
    connect(g, bob.privateKey, 120); // bob is detached: unknown to the device
    g.device.fromNetwork(new Uint8Array(3), CLIENT_ENDPOINT, g.now(), { toNetwork: () => {}, toTunnel: () => {} });

    const pools = {
      ipv4: { prefix: '100.64.0.0/24', used: 3, size: 253 },
      ipv6: { prefix: 'fd12:3456:789a::/120', used: 3, size: 254 }, // ::2 .. ::ff
    };
    const metrics = g.registry.gatewayMetrics();
    expect(metrics).toMatchObject({
      version: VERSION,
      handshakes: { completed: 1, failed: 1 },
      sessions: 1,
      pools,
      uplinkUp: true,
    });
    expect(metrics.drops).toMatchObject({ 'too-short': 1, 'unknown-peer': 1 });
    expect(Object.values(metrics.drops).reduce((a, b) => a + b, 0)).toBe(2);
    expect(g.registry.usage('carol').current.upload).toEqual({ bytes: 120, packets: 1 });
    const carolMetrics = g.registry.clientMetrics().find((m) => m.name === 'carol')!;
    expect(carolMetrics.lastHandshake).toBe(Math.floor(g.wall / 1000));
    expect(g.registry.getClient('carol').lastHandshake).toBe(new Date(g.wall).toISOString());

    g.uplinkUp = false;
    expect(g.registry.status()).toEqual({
      interface: 'mg0',
      publicKey: gw.publicKey,
      listenPort: LISTEN_PORT,
      uplink: { name: 'eth0', up: false },
      version: VERSION,
      startedAt: new Date(WALL0).toISOString(),
      sessions: 1,
      handshakes: { completed: 1, failed: 1 },
      pools,
      clients: { total: 3, enabled: 2 },
    });
    expect(g.registry.gatewayMetrics().uplinkUp).toBe(false);
    expect(g.registry.policies()).toEqual(['unlimited', 'resident', 'guest']);

    // /64 leases: every /64 of the pool but the gateway's first.
    const prefixes = Gateway.start(loadConfig({ ipv6: { pool: 'fd12:3456:789a::/60', leasePrefixLength: 64 } }));
    expect(prefixes.registry.status().pools.ipv6).toEqual({ prefix: 'fd12:3456:789a::/60', used: 2, size: 15 });
    expect(prefixes.registry.getClient('alice').lease?.ipv6).toBe('fd12:3456:789a:1::/64');
  });
});
