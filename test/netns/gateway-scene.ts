// The gateway scene of issue 3 in network namespaces (built on harness.ts):
//
//   mg-inet-ID  "the Internet": HTTP (tools/http-server.mjs) on 198.51.100.1 and
//        │      2001:db8:100::1 port 80, and a "private LAN box" 192.168.77.1 (on lo)
//        │      behind the uplink; only connected routes, so nothing but NATed
//        │      traffic from the gateway's uplink address can be answered
//        │ isp0 198.51.100.1/24 2001:db8:100::1/64
//        │ up0  198.51.100.2/24 2001:db8:100::2/64, default routes and 192.168.77.0/24 via inet
//   mg-gw-ID    `meshgate gateway` on UDP 51820, TUN mgg<ID><n>; an HTTP listener on its
//        │      own underlay and uplink addresses (port 8080) for the isolation checks
//        │ mesh0 192.0.2.1/24 2001:db8:1::1/64
//   mg-mesh-ID  one bridge (the mesh)
//        ├─ mg-ca-ID mesh0 192.0.2.10/24 2001:db8:1::10/64: `meshgate client`, endpoint
//        │           [2001:db8:1::1]:51820, routes 198.51.100.0/24, 2001:db8:100::/64, 192.168.77.0/24
//        └─ mg-cb-ID mesh0 192.0.2.11/24 2001:db8:1::11/64: a stock client, `wg-quick up` of the
//                    config `meshgate gateway export-client` printed (wireguard-go, the kernel has
//                    no WireGuard here), endpoint 192.0.2.1:51820, default routes through it
//
// Tunnel pools: 100.64.0.0/16 and the ULA /48 the gateway generates and keeps in its
// state directory (so a restart must bring the same one back). The exported config
// must carry no DNS line: wg-quick would hand it to resolvconf, which changes the
// host's /etc/resolv.conf (not per namespace); writeStockConfig refuses one.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { parseCidr, parseIp, formatIp, type Cidr } from '../../shared/net/address.js';
import {
  MESHGATE_BIN,
  Scene,
  genKeyPair,
  jsonLines,
  genPsk,
  sleep,
  type ExecResult,
  type KeyPair,
  type Namespace,
  type Proc,
} from './harness.js';
import { streamSha256 } from './tools/keystream.mjs';
import { stateFileOf } from '../../client/client-state.js';

/** Re-exported for the gateway tests, which import their helpers from here. */
export { jsonLines };

const here = path.dirname(fileURLToPath(import.meta.url));

/** The HTTP server/client tool. */
export const HTTP_TOOL = path.resolve(here, 'tools/http-server.mjs');

/** Addresses and ports of the scene (documentation ranges, tunnel pools, one private LAN address). */
export const NET = {
  inet4: '198.51.100.1',
  inet6: '2001:db8:100::1',
  uplink4: '198.51.100.2',
  uplink6: '2001:db8:100::2',
  privateBox: '192.168.77.1',
  privateLan: '192.168.77.0/24',
  gwMesh4: '192.0.2.1',
  gwMesh6: '2001:db8:1::1',
  caMesh4: '192.0.2.10',
  caMesh6: '2001:db8:1::10',
  cbMesh4: '192.0.2.11',
  cbMesh6: '2001:db8:1::11',
  ipv4Pool: '100.64.0.0/16',
  gatewayTunnel4: '100.64.0.1',
  listenPort: 51820,
  httpPort: 80,
  gwHttpPort: 8080,
  /** An address in the pool that no client holds (for the spoofing check). */
  spoofed4: '100.64.99.99',
} as const;

/** Where no request to the Internet may ever come from: the tunnel pools. */
export const POOL_AREAS: readonly Cidr[] = [parseCidr('100.64.0.0/10'), parseCidr('fd00::/8')];

const GATEWAY_READY = /"event"\s*:\s*"ready"/;
/** stopGateway(): SIGKILL this long after a SIGTERM that did not end the gateway. */
const GATEWAY_STOP_GRACE_MS = 10_000;
const MESHGATE_RUN_DIR = '/var/run/meshgate';
const WG_RUN_DIR = '/var/run/wireguard';

// ------------------------------------------------------------------ helpers ----

/** Canonical text of an IP address (or of the address part of a CIDR). */
export function canonicalIp(text: string): string {
  return formatIp(parseIp(text.split('/')[0]!.trim()));
}

export function inCidr(address: string, cidr: Cidr): boolean {
  const a = parseIp(address.split('/')[0]!);
  if (a.length !== cidr.address.length) return false;
  for (let i = 0; i < a.length; i++) {
    const bits = Math.min(8, Math.max(0, cidr.prefixLength - i * 8));
    const mask = (0xff00 >> bits) & 0xff;
    if ((a[i]! & mask) !== cidr.address[i]) return false;
  }
  return true;
}

export function inPools(address: string): boolean {
  return POOL_AREAS.some((c) => inCidr(address, c));
}

/** SHA-256 (hex) of the first `bytes` bytes of a seed's stream (the one tools/http-server.mjs serves). */
export function expectedSha256(bytes: number, seed: string): string {
  return streamSha256(bytes, seed);
}

export interface GetResult {
  url: string;
  status?: number;
  bytes: number;
  expected?: number;
  sha256?: string;
  body?: string;
  ok: boolean;
  error?: string;
  firstMismatch?: number;
  seconds: number;
  exitCode: number;
}

/** `http-server.mjs get URL` inside a namespace. Never throws for a failed fetch: check `ok`. */
export async function httpGet(
  ns: Namespace,
  url: string,
  opts: { timeoutS?: number; local?: string } = {},
): Promise<GetResult> {
  const timeoutS = opts.timeoutS ?? 60;
  const args = [HTTP_TOOL, 'get', url, '--timeout', String(timeoutS)];
  if (opts.local) args.push('--local', opts.local);
  const r = await ns.exec('node', args, { check: false, timeoutMs: timeoutS * 1000 + 10_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return { ...(JSON.parse(last) as Omit<GetResult, 'exitCode'>), exitCode: r.exitCode };
  } catch {
    return {
      url,
      bytes: 0,
      ok: false,
      error: `exit ${r.exitCode}: ${r.stderr}${r.stdout}`,
      seconds: 0,
      exitCode: r.exitCode,
    };
  }
}

/** "http://198.51.100.1:80/path" or "http://[2001:db8::1]:80/path". */
export function httpUrl(address: string, port: number, pathAndQuery: string): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return `http://${host}:${port}${pathAndQuery}`;
}

/** Starts `http-server.mjs serve` in a namespace and waits until every socket listens. */
export async function httpServer(ns: Namespace, label: string, binds: readonly string[], port: number): Promise<Proc> {
  const proc = ns.spawn(label, 'node', [HTTP_TOOL, 'serve', '--bind', binds.join(','), '--port', String(port)]);
  await proc.waitFor(/"event":"ready"/, 10_000);
  return proc;
}

/** The "request" lines an http-server printed so far. */
export function requestsSeen(server: Proc): { remote: string; local: string; path: string }[] {
  return jsonLines(server.output())
    .filter((e) => e.event === 'request')
    .map((e) => ({ remote: String(e.remote), local: String(e.local), path: String(e.path) }));
}

/** Addresses (CIDR text) on a device, or on every device of the namespace. */
export async function addressesOf(ns: Namespace, dev?: string): Promise<string[]> {
  const r = await ns.exec('ip', ['-j', 'address', 'show', ...(dev ? ['dev', dev] : [])], { check: false });
  if (r.exitCode !== 0) return [];
  const links = JSON.parse(r.stdout || '[]') as {
    addr_info?: { local?: string; prefixlen?: number; scope?: string }[];
  }[];
  return links.flatMap((l) =>
    (l.addr_info ?? []).filter((a) => a.scope !== 'link' && a.scope !== 'host').map((a) => `${a.local}/${a.prefixlen}`),
  );
}

export async function linkExists(ns: Namespace, dev: string): Promise<boolean> {
  const r = await ns.exec('ip', ['link', 'show', 'dev', dev], { check: false });
  return r.exitCode === 0;
}

export async function nft(ns: Namespace, ...args: string[]): Promise<string> {
  return (await ns.exec('nft', args)).stdout;
}

/** `nft list tables` as a list of "family name". */
export async function nftTables(ns: Namespace): Promise<string[]> {
  return (await nft(ns, 'list', 'tables'))
    .split('\n')
    .map((l) => l.trim().replace(/^table\s+/, ''))
    .filter(Boolean);
}

/**
 * The named counters of one table (`nft -j list counters table FAMILY NAME`),
 * packets (default) or bytes each; {} when the table is absent, unless required.
 */
export async function nftCounters(
  ns: Namespace,
  family: string,
  table: string,
  opts: { unit?: 'packets' | 'bytes'; required?: boolean } = {},
): Promise<Record<string, number>> {
  const unit = opts.unit ?? 'packets';
  const r = await ns.exec('nft', ['-j', 'list', 'counters', 'table', family, table], { check: opts.required ?? false });
  if (r.exitCode !== 0) return {};
  const doc = JSON.parse(r.stdout) as {
    nftables?: { counter?: { name?: string; packets?: number; bytes?: number } }[];
  };
  const out: Record<string, number> = {};
  for (const item of doc.nftables ?? []) {
    if (item.counter?.name !== undefined) out[item.counter.name] = item.counter[unit] ?? 0;
  }
  return out;
}

/**
 * Everything a client agent may change in its namespace, as data: ip -j dumps of
 * addresses, routes (every table) and rules of both families, src_valid_mark,
 * the nft ruleset (with `nft`) and the namespace's resolv.conf (null: none).
 */
export async function clientDump(
  ns: Namespace,
  resolvConf: string | null,
  opts: { nft?: boolean } = {},
): Promise<Record<string, unknown>> {
  const j = async (...args: string[]) => JSON.parse((await ns.ip('-j', ...args)).stdout || '[]') as unknown;
  return {
    addr4: await j('-4', 'addr'),
    addr6: await j('-6', 'addr'),
    route4: await j('-4', 'route', 'show', 'table', 'all'),
    route6: await j('-6', 'route', 'show', 'table', 'all'),
    rule4: await j('-4', 'rule'),
    rule6: await j('-6', 'rule'),
    ...(opts.nft ? { nft: (await ns.exec('nft', ['list', 'ruleset'])).stdout } : {}),
    srcValidMark: (await ns.exec('sysctl', ['-n', 'net.ipv4.conf.all.src_valid_mark'])).stdout.trim(),
    resolvConf: resolvConf === null ? null : fs.readFileSync(resolvConf, 'utf8'),
  };
}

export async function sysctlValue(ns: Namespace, key: string): Promise<string> {
  return (await ns.exec('sysctl', ['-n', key])).stdout.trim();
}

/** Polls `check` every `everyMs` until it returns a value other than undefined; throws after timeoutMs. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

// --------------------------------------------------------------- the scene ----

export interface LeaseEntry {
  name: string;
  publicKey: string;
  ipv4: string;
  ipv6: string;
}

export interface GatewayShow {
  interface: string;
  publicKey: string;
  listenPort: number;
  peers: { publicKey: string; endpoint: string | null; allowedIps: string[]; latestHandshake: number }[];
  drops: Record<string, number>;
  leases: LeaseEntry[];
  leaseProtocol: Record<string, number>;
}

export interface GatewayConfigOptions {
  allowPrivate?: readonly string[];
  /** Top-level fields merged into the YAML (issue 8: uplinkCapacity, defaultPolicy, policies). */
  extra?: Record<string, unknown>;
  /** A client's `policy` by name. */
  clientPolicy?: { alice?: string; bob?: string };
  /** The clients the file lists (default both; issue 9 adds bob through the admin API instead). */
  fileClients?: readonly ('alice' | 'bob')[];
}

function policyField(policy: string | undefined): { policy?: string } {
  return policy === undefined ? {} : { policy };
}

/** A client's addresses without prefix lengths, canonical. */
export interface Addresses {
  ipv4: string;
  ipv6: string;
}

export class GatewayScene {
  /** The running gateway (null while stopped). */
  gateway: Proc | null = null;
  clientA: Proc | null = null;
  /** Client B's exported wg-quick file (written 0600) and the addresses in it. */
  stock: { file: string; text: string; addresses: Addresses } | null = null;
  readonly gatewayConfigFile: string;
  readonly stateDir: string;
  readonly gwTun: string;
  readonly caTun: string;
  readonly cbWg: string;

  private constructor(
    readonly scene: Scene,
    readonly inet: Namespace,
    readonly gw: Namespace,
    readonly ca: Namespace,
    readonly cb: Namespace,
    readonly keys: { gateway: KeyPair; alice: KeyPair; bob: KeyPair; bobPsk: string },
    readonly servers: { inet: Proc; gw: Proc },
  ) {
    this.gatewayConfigFile = path.join(scene.dir, 'gateway.yaml');
    this.stateDir = path.join(scene.dir, 'state');
    this.gwTun = scene.ifname('g');
    this.caTun = scene.ifname('c');
    this.cbWg = scene.ifname('w');
    scene.ownFile(path.join(MESHGATE_RUN_DIR, `${this.gwTun}.sock`), gw);
    scene.ownFile(path.join(MESHGATE_RUN_DIR, `${this.caTun}.sock`), ca);
    scene.ownFile(stateFileOf(this.caTun), ca); // A's agent with routes: [default]
    scene.ownFile(path.join(WG_RUN_DIR, `${this.cbWg}.sock`), cb);
  }

  /** Namespaces, links, addresses, routes and the HTTP servers; nothing of meshgate runs yet. */
  static async build(label = 'gateway'): Promise<GatewayScene> {
    const scene = await Scene.create(label);
    const inet = await scene.namespace('inet');
    const gw = await scene.namespace('gw');
    const ca = await scene.namespace('ca');
    const cb = await scene.namespace('cb');

    await scene.veth(inet, gw, {
      names: ['isp0', 'up0'],
      a: [`${NET.inet4}/24`, `${NET.inet6}/64`],
      b: [`${NET.uplink4}/24`, `${NET.uplink6}/64`],
    });
    await inet.ip('address', 'add', `${NET.privateBox}/32`, 'dev', 'lo');
    await gw.ip('-4', 'route', 'add', 'default', 'via', NET.inet4, 'dev', 'up0');
    await gw.ip('-6', 'route', 'add', 'default', 'via', NET.inet6, 'dev', 'up0');
    await gw.ip('-4', 'route', 'add', NET.privateLan, 'via', NET.inet4, 'dev', 'up0');

    await scene.lan(
      [
        { ns: gw, dev: 'mesh0', addresses: [`${NET.gwMesh4}/24`, `${NET.gwMesh6}/64`] },
        { ns: ca, dev: 'mesh0', addresses: [`${NET.caMesh4}/24`, `${NET.caMesh6}/64`] },
        { ns: cb, dev: 'mesh0', addresses: [`${NET.cbMesh4}/24`, `${NET.cbMesh6}/64`] },
      ],
      'mesh',
    );

    const inetServer = await httpServer(inet, 'http', [NET.inet4, NET.inet6, NET.privateBox], NET.httpPort);
    const gwServer = await httpServer(
      gw,
      'http-self',
      [NET.uplink4, NET.uplink6, NET.gwMesh4, NET.gwMesh6],
      NET.gwHttpPort,
    );

    const keys = { gateway: genKeyPair(), alice: genKeyPair(), bob: genKeyPair(), bobPsk: genPsk() };
    const gs = new GatewayScene(scene, inet, gw, ca, cb, keys, { inet: inetServer, gw: gwServer });
    scene.writeFile('gateway.key', keys.gateway.privateKey + '\n');
    scene.writeFile('alice.key', keys.alice.privateKey + '\n');
    scene.writeFile('bob.key', keys.bob.privateKey + '\n');
    scene.writeFile('bob.psk', keys.bobPsk + '\n');
    gs.writeGatewayConfig();
    return gs;
  }

  file(name: string): string {
    return path.join(this.scene.dir, name);
  }

  /** The gateway's YAML (docs/gateway-config.md); rewritten in place, so a restart picks it up. */
  writeGatewayConfig(opts: GatewayConfigOptions = {}): void {
    const config = {
      privateKeyFile: this.file('gateway.key'),
      listenPort: NET.listenPort,
      endpoint: `${NET.gwMesh4}:${NET.listenPort}`,
      uplink: 'up0',
      interface: this.gwTun,
      mtu: 1420,
      ipv4Pool: NET.ipv4Pool,
      ipv6: { mode: 'nat66', leasePrefixLength: 128 },
      dns: [],
      leaseLifetime: 3600,
      stateDir: this.stateDir,
      allowPrivate: [...(opts.allowPrivate ?? [])],
      ...opts.extra,
      clients: [
        { name: 'alice', publicKey: this.keys.alice.publicKey, ...policyField(opts.clientPolicy?.alice) },
        {
          name: 'bob',
          publicKey: this.keys.bob.publicKey,
          presharedKeyFile: this.file('bob.psk'),
          privateKeyFile: this.file('bob.key'),
          ...policyField(opts.clientPolicy?.bob),
        },
      ].filter((c) => (opts.fileClients ?? ['alice', 'bob']).includes(c.name as 'alice' | 'bob')),
    };
    this.scene.writeFile('gateway.yaml', YAML.stringify(config));
  }

  /** `meshgate gateway --config FILE` in gw; resolves once it logged "ready". */
  async startGateway(timeoutMs = 20_000): Promise<Proc> {
    if (this.gateway && !this.gateway.exitStatus) throw new Error('the gateway is already running');
    const proc = this.gw.spawn('gateway', 'node', [MESHGATE_BIN, 'gateway', '--config', this.gatewayConfigFile], {
      stopGraceMs: GATEWAY_STOP_GRACE_MS,
    });
    this.gateway = proc;
    await proc.waitFor(GATEWAY_READY, timeoutMs);
    return proc;
  }

  /** Ends the gateway with a signal and waits for it (SIGKILL after 10 s for a SIGTERM that does not end it). */
  async stopGateway(sig: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<{ code: number | null; signal: string | null }> {
    const proc = this.gateway;
    if (!proc) throw new Error('no gateway');
    if (sig === 'SIGKILL') process.kill(proc.pid, 'SIGKILL');
    const status = sig === 'SIGKILL' ? await proc.exited : await proc.stop();
    return status;
  }

  async gatewayStatus(): Promise<GatewayShow> {
    const r = await this.gw.exec('node', [MESHGATE_BIN, 'show', this.gwTun, '--json'], { timeoutMs: 15_000 });
    return JSON.parse(r.stdout) as GatewayShow;
  }

  /** Client A: `meshgate client --config FILE` in ca (`extra`: top-level fields merged in); resolves once it logged "ready" (after "lease"). */
  async startClientA(timeoutMs = 20_000, extra: Record<string, unknown> = {}): Promise<Proc> {
    const config = {
      privateKeyFile: this.file('alice.key'),
      interface: this.caTun,
      gateway: { publicKey: this.keys.gateway.publicKey, endpoint: `[${NET.gwMesh6}]:${NET.listenPort}` },
      persistentKeepalive: 25,
      routes: ['198.51.100.0/24', '2001:db8:100::/64', NET.privateLan],
      ...extra,
    };
    const file = this.scene.writeFile('alice.yaml', YAML.stringify(config));
    const proc = this.ca.spawn('client', 'node', [MESHGATE_BIN, 'client', '--config', file]);
    this.clientA = proc;
    await proc.waitFor(GATEWAY_READY, timeoutMs);
    return proc;
  }

  /** The lease client A logged ("event":"lease"), addresses only. */
  clientALease(): Addresses {
    const lease = jsonLines(this.clientA?.output() ?? '').find((e) => e.event === 'lease');
    if (!lease) throw new Error('client A logged no lease');
    return { ipv4: canonicalIp(String(lease.ipv4)), ipv6: canonicalIp(String(lease.ipv6)) };
  }

  /** `meshgate gateway export-client bob` (run in gw), written to <scene dir>/<wg name>.conf. */
  async exportStockConfig(): Promise<{ file: string; text: string; addresses: Addresses }> {
    const r = await this.gw.exec('node', [
      MESHGATE_BIN,
      'gateway',
      'export-client',
      'bob',
      '--config',
      this.gatewayConfigFile,
    ]);
    return this.useStockConfig(r.stdout);
  }

  /** A wg-quick config for client B (exported, or made by the admin API), written to <scene dir>/<wg name>.conf. */
  useStockConfig(text: string): { file: string; text: string; addresses: Addresses } {
    if (/^\s*DNS\s*=/im.test(text))
      throw new Error('the exported config has a DNS line: wg-quick would change the host resolver');
    if (/^\s*(PreUp|PostUp|PreDown|PostDown)\s*=/im.test(text)) throw new Error('the exported config runs commands');
    const address = /^\s*Address\s*=\s*(.+)$/im.exec(text)?.[1] ?? '';
    const parts = address.split(',').map((s) => s.trim());
    const v4 = parts.find((p) => p.includes('.') && !p.includes(':'));
    const v6 = parts.find((p) => p.includes(':'));
    if (!v4 || !v6) throw new Error(`the exported config has no IPv4 and IPv6 Address: ${JSON.stringify(address)}`);
    const file = this.scene.writeFile(`${this.cbWg}.conf`, text);
    this.stock = { file, text, addresses: { ipv4: canonicalIp(v4), ipv6: canonicalIp(v6) } };
    return this.stock;
  }

  /**
   * Client B: `wg-quick up` of the exported file in cb. wg-quick tries a kernel
   * WireGuard device first and falls back to wireguard-go (daemonized; killed with
   * the namespace). Everything it changes (device, fwmark rules, routing table,
   * its nft table, src_valid_mark) lives in cb.
   */
  async startClientB(): Promise<ExecResult> {
    if (!this.stock) await this.exportStockConfig();
    // wireguard-go daemonizes: with LOG_LEVEL set it would keep wg-quick's output pipes
    // open, with WG_PROCESS_FOREGROUND set (even empty: Go reads the first of duplicate
    // variables) its daemon child would fork again. So both are removed, not emptied.
    const r = await this.cb.exec(
      'env',
      ['-u', 'LOG_LEVEL', '-u', 'WG_PROCESS_FOREGROUND', 'WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go'].concat([
        'wg-quick',
        'up',
        this.stock!.file,
      ]),
      { check: false, timeoutMs: 30_000 },
    );
    fs.writeFileSync(path.join(this.scene.dir, 'cb-wg-quick.log'), r.stdout + r.stderr, { mode: 0o600 });
    if (r.exitCode !== 0) throw new Error(`wg-quick up failed (exit ${r.exitCode}):\n${r.stderr}${r.stdout}`);
    return r;
  }

  /** Client namespace by letter. */
  client(which: 'a' | 'b'): Namespace {
    return which === 'a' ? this.ca : this.cb;
  }

  /** Fetches a content-checked /data/<bytes> from the inet server over IPv4 or IPv6. */
  fetchData(which: 'a' | 'b', family: 4 | 6, bytes: number, seed: string, timeoutS = 60, rate?: number) {
    const q = `/data/${bytes}?seed=${seed}${rate ? `&rate=${rate}` : ''}`;
    return httpGet(this.client(which), httpUrl(family === 4 ? NET.inet4 : NET.inet6, NET.httpPort, q), { timeoutS });
  }

  whoami(which: 'a' | 'b', address: string, port = NET.httpPort, timeoutS = 10) {
    return httpGet(this.client(which), httpUrl(address, port, '/whoami'), { timeoutS });
  }
}
